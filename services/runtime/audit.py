"""The audit trail: who read or changed identity or a clinical record, when, through which
route, and whether it was allowed (HIPAA 164.312(b) audit controls).

A route declares what it exposes with `dependencies=[audited(resource, action)]`; the entry is
written once per request, allowed or denied (401, 403 and 404 included), whatever the route
body does. Each service inserts its entries into its own `audit_log` (insert only: no code path
updates or deletes it, and no route exposes it for writing) and into `audit_outbox`, from which
the service's outbox relay publishes them on `kap.audit.entries`; intake keeps the network's
trail from that topic and serves it to privacy officers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

from fastapi import Depends, Request
from pymongo.asynchronous.database import AsyncDatabase
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.audit import AuditAction, AuditedResource, AuditEntry, AuditOutcome
from contracts.topics import AUDIT_TOPIC
from services.runtime.aggregate import Publish
from services.runtime.auth import bearer_principal
from services.runtime.mongo import Document
from services.runtime.refusals import NotFound, NotPermitted
from services.runtime.settings import Settings

AUDIT_LOG = "audit_log"
AUDIT_OUTBOX = "audit_outbox"
DENIED_STATUS = frozenset({401, 403, 404})


class AuditTrail:
    """Writes a service's audit entries (insert only) and relays them to the audit topic."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        service: str,
        clock: Callable[[], datetime],
        nudge: Callable[[], None] = lambda: None,
    ) -> None:
        self.log = db[AUDIT_LOG]
        self.outbox = db[AUDIT_OUTBOX]
        self.service = service
        self.clock = clock
        self.nudge = nudge

    async def record(self, *entries: AuditEntry) -> None:
        """Insert the entries (one write per collection); a failure propagates, so nothing is
        answered without its entries."""
        if not entries:
            return
        documents = [{"_id": str(e.entry_id), **e.model_dump(mode="json")} for e in entries]
        await self.outbox.insert_many([dict(d) for d in documents])
        await self.log.insert_many(documents)
        self.nudge()

    async def relay_outbox(self, publish: Publish, batch: int = 100) -> int:
        """Publish waiting entries on the audit topic, then drop them from the outbox (the
        `audit_log` copy stays)."""
        relayed = 0
        async for document in self.outbox.find({}).limit(batch):
            entry = AuditEntry.model_validate({k: v for k, v in document.items() if k != "_id"})
            await publish(
                {
                    "value": entry.model_dump_json(),
                    "topic": AUDIT_TOPIC,
                    "key": entry.patient_id or "",
                    "event_type": entry.entry_type,
                }
            )
            await self.outbox.delete_one({"_id": document["_id"]})
            relayed += 1
        return relayed

    def entry(
        self,
        request: Request,
        resource: AuditedResource,
        action: AuditAction,
        outcome: AuditOutcome,
        patient_id: str | None,
    ) -> AuditEntry:
        """The entry for this request: the caller from its token (none if it has no valid
        one), the route template, and what the route noted (`disclosed_identity`)."""
        settings: Settings = request.app.state.settings
        caller = bearer_principal(settings, request.headers.get("authorization", ""))
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return AuditEntry(
            entry_id=uuid4(),
            at=self.clock(),
            service=self.service,
            subject=caller.subject[:200] if caller else None,
            role=caller.role.value if caller else None,
            sites=sorted(caller.sites)[:100] if caller else [],
            patient_id=patient_id[:64] if patient_id else None,
            resource=resource,
            action=action,
            method=request.method,
            route=str(route)[:200],
            outcome=outcome,
            identity_disclosed=bool(getattr(request.state, "identity_disclosed", False)),
        )


def outcome_of(error: Exception) -> AuditOutcome:
    if isinstance(error, StarletteHTTPException) and error.status_code in DENIED_STATUS:
        return AuditOutcome.DENIED
    if isinstance(error, NotFound | NotPermitted):
        return AuditOutcome.DENIED
    return AuditOutcome.FAILED


def audited(resource: AuditedResource, action: AuditAction) -> Any:
    """A route dependency writing exactly one audit entry per request: allowed when the route
    answered, denied when the caller was refused (401/403/404), failed otherwise. Declared
    first among the route's dependencies, it sees the refusals of the others."""

    async def audit(request: Request) -> AsyncIterator[None]:
        trail: AuditTrail = request.app.state.audit
        try:
            yield
        except Exception as error:
            denied = outcome_of(error)
            patient = request.path_params.get("patient_id")
            await trail.record(trail.entry(request, resource, action, denied, patient))
            raise
        allowed = AuditOutcome.ALLOWED
        shown = patients_of(request)
        await trail.record(*(trail.entry(request, resource, action, allowed, p) for p in shown))

    return Depends(audit, scope="function")


def patients_of(request: Request) -> list[str]:
    """The patients a request exposed: the path's, else those the route named (none: a list
    that was empty, or a replayed command, is not an access to anyone's record)."""
    path = request.path_params.get("patient_id")
    named: list[str] = getattr(request.state, "audit_patients", [])
    return [path] if path else list(dict.fromkeys(named))


def audit_patient(request: Request, *patient_ids: str) -> None:
    """Name the patients of a route whose path does not: a referral creates one, a task list
    shows several (one entry each)."""
    request.state.audit_patients = [*getattr(request.state, "audit_patients", []), *patient_ids]


def disclosed_identity(request: Request) -> None:
    """Mark the answer as carrying the patient's decrypted identity."""
    request.state.identity_disclosed = True


def attach(http: Any, db: AsyncDatabase[Document], service: str, relay: Any, clock: Any) -> None:
    """Give a service its trail: the audit dependency finds it on the app, the relay drains
    its outbox."""
    trail = AuditTrail(db, service, clock, relay.nudge)
    relay.stores.append(trail)
    http.state.audit = trail
