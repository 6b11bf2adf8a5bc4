"""The audit entry every service writes when identity or a clinical record is read or changed
(HIPAA 164.312(b) audit controls): who, what, when, from which route, and the outcome. It names
the patient by id only and carries no other personal or health data."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.envelope import StrictModel, UtcDatetime


class AuditedResource(StrEnum):
    IDENTITY = "identity"
    INTAKE_RECORD = "intake_record"
    JOURNEY = "journey"
    SESSION_RECORD = "session_record"
    COACHING_TASKS = "coaching_tasks"


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    ERASE = "erase"


class AuditOutcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    """401, 403 or 404: no token, a role or site the resource does not admit, or no such record
    in the caller's scope."""
    FAILED = "failed"
    """Refused for another reason (bad input, a broken rule, a database out of reach)."""


class AuditEntry(StrictModel):
    entry_type: Literal["AuditEntry"] = "AuditEntry"
    entry_id: UUID
    at: UtcDatetime
    service: str = Field(min_length=1, max_length=32)
    subject: str | None = Field(default=None, max_length=200, description="None: no valid token")
    role: str | None = Field(default=None, max_length=64)
    sites: list[str] = Field(default_factory=list, max_length=100)
    patient_id: str | None = Field(default=None, max_length=64)
    resource: AuditedResource
    action: AuditAction
    method: str = Field(min_length=1, max_length=8)
    route: str = Field(min_length=1, max_length=200, description="The route template.")
    outcome: AuditOutcome
    identity_disclosed: bool = Field(
        default=False, description="The answer carried the patient's decrypted identity."
    )
