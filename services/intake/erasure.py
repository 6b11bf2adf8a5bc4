"""`POST /patients/{id}/erasure`: a privacy officer erases a patient's identity by deleting its
data key; the pseudonymous care record, journey and coach queue stay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from contracts.audit import AuditAction, AuditedResource
from services.intake.api import ErasureIn
from services.intake.privacy import decide_erasure
from services.intake.record import IntakeRecord
from services.intake.routes import PatientNotFound
from services.intake.vault import IdentityVault
from services.runtime.aggregate import AggregateStore
from services.runtime.audit import audited
from services.runtime.auth import Principal, Role, require
from services.runtime.commands import Commands
from services.runtime.service import Service


class ErasureOut(BaseModel):
    patient_id: str
    erased_at: datetime


def erasure_routes(
    service: Service, store: AggregateStore[IntakeRecord], vault: IdentityVault
) -> APIRouter:
    router = APIRouter(tags=["privacy"])
    commands = Commands(store, PatientNotFound, lambda p, record: p.may_access(record.site_id))

    @router.post(
        "/patients/{patient_id}/erasure",
        dependencies=[audited(AuditedResource.IDENTITY, AuditAction.ERASE)],
        response_model=ErasureOut,
    )
    async def erase_identity(
        patient_id: str,
        body: ErasureIn,
        principal: Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))],
    ) -> ErasureOut:
        """Delete the patient's data key, so the identity can no longer be decrypted anywhere
        (record, topics, dead letters, backups); then record who erased it and why. A repeat is
        a 409 (IdentityAlreadyErased)."""
        await commands.read(patient_id, principal)
        await vault.erase(patient_id)
        stamp = service.stamp()
        changed = await commands.change(
            patient_id,
            principal,
            lambda r: decide_erasure(r, principal.subject, body.reason, stamp),
        )
        erasure = changed.state.erasure
        assert erasure is not None
        return ErasureOut(patient_id=patient_id, erased_at=erasure.at)

    return router
