"""Intake's HTTP routes: referrals, the clinical record, and the prescriber's review.

Every command goes through `services.runtime.commands` (load once, scope on the stored record,
decide in the domain, commit with the Idempotency-Key in the inbox; the outbox publishes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Request

from contracts.audit import AuditAction, AuditedResource
from contracts.intake import Contraindication
from services.intake import domain, flags, review
from services.intake.api import (
    AcknowledgeIn,
    ConsentIn,
    EligibilityIn,
    EligibilityOut,
    MedicationsIn,
    OverrideIn,
    ReferralIn,
    ReferralOut,
)
from services.intake.coverage import Payers
from services.intake.domain import Decided, IntakeRecord
from services.intake.rules import IntakeRules
from services.intake.vault import IdentityVault
from services.runtime.aggregate import AggregateStore
from services.runtime.audit import audit_patient, audited, disclosed_identity
from services.runtime.auth import Principal, Role, require
from services.runtime.commands import Commands
from services.runtime.errors import invalid_field
from services.runtime.idempotency import new_id
from services.runtime.network import Network
from services.runtime.refusals import NotFound
from services.runtime.service import Service

CLINICAL_READERS = (
    Role.INTAKE_COORDINATOR,
    Role.PSYCHIATRIST,
    Role.NURSE,
    Role.THERAPIST,
    Role.SITE_ADMIN,
)
SEES_IDENTITY = frozenset({Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST, Role.NURSE})
"""Who needs name, date of birth and contact details: referral, prescribing, and the nurse's
identity check on the treatment day. Therapists and site admins see the clinical record only."""
UPDATES_MEDICATIONS = (Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST, Role.NURSE)

Psychiatrist = Annotated[Principal, Depends(require(Role.PSYCHIATRIST))]
Decide = Callable[[IntakeRecord], Decided]


class PatientNotFound(NotFound):
    """No intake record for this patient in the caller's sites."""


def summary(record: IntakeRecord) -> ReferralOut:
    coverage = record.coverage
    return ReferralOut(
        patient_id=record.patient_id,
        site_id=record.site_id,
        phq9_total=record.phq9_total,
        gad7_total=record.gad7_total,
        open_risk_flags=[k for k, f in record.flags.items() if not f.acknowledged],
        interactions=record.interactions,
        blocking_contraindications=[
            k.value for k, f in record.contraindications.items() if f.unresolved
        ],
        coverage=coverage.model_dump(mode="json") if coverage else None,
    )


def routes(
    service: Service,
    store: AggregateStore[IntakeRecord],
    rules: IntakeRules,
    network: Network,
    payers: Payers,
    vault: IdentityVault,
) -> APIRouter:
    router = APIRouter(tags=["intake"])
    skew = timedelta(minutes=rules.clock_skew_minutes)

    commands = Commands(store, PatientNotFound, lambda p, record: p.may_access(record.site_id))

    async def change(patient_id: str, principal: Principal, decide: Decide) -> ReferralOut:
        return summary((await commands.change(patient_id, principal, decide)).state)

    @router.post(
        "/referrals",
        status_code=201,
        response_model=ReferralOut,
        dependencies=[audited(AuditedResource.IDENTITY, AuditAction.CREATE)],
    )
    async def refer(
        request: Request,
        body: ReferralIn,
        principal: Annotated[Principal, Depends(require(Role.INTAKE_COORDINATOR))],
    ) -> ReferralOut:
        if body.site_id not in network.site_ids:
            raise invalid_field(("body", "site_id"), f"unknown site {body.site_id!r}")
        if body.payer not in payers.payers:
            raise invalid_field(("body", "payer"), f"unknown payer {body.payer!r}")
        principal.require_site(body.site_id)

        patient_id = f"pat-{new_id('referral').hex[:12]}"
        audit_patient(request, patient_id)
        sealed = await vault.seal(patient_id, body.identity.to_identity(), service.clock())
        record, events = domain.decide_referral(
            patient_id, body.to_domain(sealed), service.stamp(), rules, payers.rule(body.payer),
            uuid4(),
        )  # fmt: skip
        applied = await commands.create(patient_id, lambda _: (record, events))
        return summary(commands.stored(applied, patient_id))

    @router.get(
        "/patients/{patient_id}",
        dependencies=[audited(AuditedResource.INTAKE_RECORD, AuditAction.READ)],
    )
    async def read(
        request: Request,
        patient_id: str,
        principal: Annotated[Principal, Depends(require(*CLINICAL_READERS))],
    ) -> dict[str, Any]:
        """The record; identity decrypted for those who need it (`identity_erased` and a null
        identity once erased), left out for the others."""
        record = await commands.read(patient_id, principal)
        shown = record.model_dump(mode="json", exclude={"identity", "erasure"})
        if principal.role in SEES_IDENTITY:
            identity = await vault.open(patient_id, record.identity)
            shown["identity"] = identity.model_dump(mode="json") if identity else None
            shown["identity_erased"] = identity is None
            if identity is not None:
                disclosed_identity(request)
        return shown

    @router.post("/patients/{patient_id}/risk-flags/{flag_id}/acknowledge")
    async def acknowledge(
        patient_id: str,
        flag_id: str,
        body: AcknowledgeIn,
        principal: Psychiatrist,
    ) -> ReferralOut:
        stamp = service.stamp()
        decide = lambda r: flags.decide_acknowledge(  # noqa: E731
            r, flag_id, principal.subject, body.note, stamp
        )
        return await change(patient_id, principal, decide)

    @router.post("/patients/{patient_id}/contraindications/{kind}/override")
    async def override(
        patient_id: str,
        kind: Contraindication,
        body: OverrideIn,
        principal: Psychiatrist,
    ) -> ReferralOut:
        stamp = service.stamp()
        decide = lambda r: review.decide_override(  # noqa: E731
            r, kind, body.reason, principal.subject, stamp
        )
        return await change(patient_id, principal, decide)

    @router.post("/patients/{patient_id}/medications")
    async def update_medications(
        patient_id: str,
        body: MedicationsIn,
        principal: Annotated[Principal, Depends(require(*UPDATES_MEDICATIONS))],
    ) -> ReferralOut:
        stamp = service.stamp()
        decide = lambda r: domain.decide_medications(r, body.medications, stamp, rules)  # noqa: E731
        return await change(patient_id, principal, decide)

    @router.post("/patients/{patient_id}/consents")
    async def consent(
        patient_id: str,
        body: ConsentIn,
        principal: Annotated[
            Principal, Depends(require(Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST))
        ],
    ) -> ReferralOut:
        stamp = service.stamp()
        decide = lambda r: domain.decide_consent(  # noqa: E731
            r, body.consent, body.given, stamp, recorded_at=body.recorded_at, skew=skew
        )
        return await change(patient_id, principal, decide)

    @router.post("/patients/{patient_id}/eligibility")
    async def decide_eligibility(
        patient_id: str,
        body: EligibilityIn,
        principal: Psychiatrist,
    ) -> EligibilityOut:
        stamp = service.stamp()
        approval = review.Approval(body.protocol, body.modality)

        def decide(record: IntakeRecord) -> Decided:
            return review.decide_eligibility(
                record, body.decision, approval, body.planned_doses, body.reasons,
                principal.subject, stamp, decided_at=body.decided_at, skew=skew,
            )  # fmt: skip

        record = (await commands.change(patient_id, principal, decide)).state
        return EligibilityOut(
            patient_id=patient_id,
            decision=record.decision,
            protocol=record.protocol,
            modality=record.modality,
        )

    return router
