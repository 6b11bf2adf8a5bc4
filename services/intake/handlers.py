"""Intake's HTTP routes: load -> decide -> save (the outbox publishes)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends

from services.intake import domain
from services.intake.api import (
    AcknowledgeIn,
    ConsentIn,
    EligibilityIn,
    ReferralIn,
    ReferralOut,
)
from services.intake.domain import IntakeRecord
from services.intake.rules import IntakeRules
from services.runtime.aggregate import AggregateStore
from services.runtime.auth import Principal, Role, require
from services.runtime.errors import NotFound, invalid_field
from services.runtime.network import Network
from services.runtime.service import Service

CLINICAL_READERS = (
    Role.INTAKE_COORDINATOR,
    Role.PSYCHIATRIST,
    Role.NURSE,
    Role.THERAPIST,
    Role.SITE_ADMIN,
)
SEES_IDENTITY = frozenset({Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST, Role.NURSE})


class PatientNotFound(NotFound):
    """No intake record for this patient in the caller's sites."""


def summary(record: IntakeRecord) -> ReferralOut:
    return ReferralOut(
        patient_id=record.patient_id,
        site_id=record.site_id,
        phq9_total=record.phq9_total,
        gad7_total=record.gad7_total,
        open_risk_flags=[k for k, f in record.flags.items() if not f.acknowledged],
        interactions=record.interactions,
    )


def routes(
    service: Service, store: AggregateStore[IntakeRecord], rules: IntakeRules, network: Network
) -> APIRouter:
    router = APIRouter(tags=["intake"])

    async def scoped(patient_id: str, principal: Principal) -> IntakeRecord:
        record = (await store.load(patient_id)).state
        if record is None or not principal.may_access(record.site_id):
            raise PatientNotFound(patient_id)
        return record

    async def change(patient_id: str, principal: Principal, decide: Any) -> IntakeRecord:
        await scoped(patient_id, principal)
        applied = await store.apply(patient_id, lambda record: decide(record))
        assert applied.state is not None
        return applied.state

    @router.post("/referrals", status_code=201)
    async def refer(
        body: ReferralIn,
        principal: Annotated[Principal, Depends(require(Role.INTAKE_COORDINATOR))],
    ) -> ReferralOut:
        if body.site_id not in network.site_ids:
            raise invalid_field(("body", "site_id"), "unknown site")
        principal.require_site(body.site_id)
        patient_id = f"pat-{uuid4().hex[:12]}"
        record, events = domain.decide_referral(
            patient_id, body.to_domain(), service.stamp(), rules, uuid4()
        )
        await store.apply(patient_id, lambda _: (record, events))
        return summary(record)

    @router.get("/patients/{patient_id}")
    async def read(
        patient_id: str, principal: Annotated[Principal, Depends(require(*CLINICAL_READERS))]
    ) -> dict[str, Any]:
        record = await scoped(patient_id, principal)
        shown = record.model_dump(mode="json")
        if principal.role not in SEES_IDENTITY:
            shown.pop("identity")
        return shown

    @router.post("/patients/{patient_id}/risk-flags/{flag_id}/acknowledge")
    async def acknowledge(
        patient_id: str,
        flag_id: str,
        body: AcknowledgeIn,
        principal: Annotated[Principal, Depends(require(Role.PSYCHIATRIST))],
    ) -> ReferralOut:
        stamp = service.stamp()
        return summary(
            await change(
                patient_id,
                principal,
                lambda r: domain.decide_acknowledge(r, flag_id, principal.subject, stamp),
            )
        )

    @router.post("/patients/{patient_id}/consents")
    async def consent(
        patient_id: str,
        body: ConsentIn,
        principal: Annotated[
            Principal, Depends(require(Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST))
        ],
    ) -> ReferralOut:
        stamp = service.stamp()
        return summary(
            await change(
                patient_id,
                principal,
                lambda r: domain.decide_consent(r, body.consent, body.given, stamp),
            )
        )

    @router.post("/patients/{patient_id}/eligibility")
    async def decide_eligibility(
        patient_id: str,
        body: EligibilityIn,
        principal: Annotated[Principal, Depends(require(Role.PSYCHIATRIST))],
    ) -> dict[str, Any]:
        stamp = service.stamp()
        record = await change(
            patient_id,
            principal,
            lambda r: domain.decide_eligibility(
                r,
                body.decision,
                body.protocol,
                body.modality,
                body.planned_doses,
                principal.subject,
                stamp,
                rules,
            ),
        )
        return {"patient_id": patient_id, "decision": record.decision, "protocol": record.protocol}

    return router
