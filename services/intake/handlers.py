"""Intake's entry points: HTTP routes, risk-flag subscribers and the escalation sweep
(load -> decide -> save; the outbox publishes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contracts import Topic, stable_id
from contracts.audit import AuditAction, AuditedResource
from contracts.intake import Contraindication, RiskFlagAcknowledged, RiskFlagRaised
from services.intake import domain, flags, review
from services.intake.api import (
    AcknowledgeIn,
    ConsentIn,
    EligibilityIn,
    MedicationsIn,
    OverrideIn,
    ReferralIn,
    ReferralOut,
)
from services.intake.coverage import Payers
from services.intake.domain import Decided, IntakeRecord
from services.intake.rules import IntakeRules
from services.intake.store import IntakeRecords, Responses
from services.intake.vault import IdentityVault
from services.runtime.audit import audit_patient, audited, disclosed_identity
from services.runtime.auth import Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.errors import invalid_field
from services.runtime.logging import get_logger
from services.runtime.network import Network
from services.runtime.refusals import NotFound
from services.runtime.service import Service

log = get_logger(__name__)

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
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]
Run = Callable[[str | None], Awaitable[BaseModel | dict[str, Any]]]
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


def existing(patient_id: str, decide: Decide) -> Any:
    def on_record(record: IntakeRecord | None) -> Decided:
        if record is None:
            raise PatientNotFound(patient_id)
        return decide(record)

    return on_record


def event_routes(service: Service, records: IntakeRecords) -> dict[Topic, Routes]:
    """Risk flags raised by session and coaching become visible here, where a psychiatrist
    acknowledges them and approvals consider them; a session prescriber's acknowledgement of
    a session flag is learnt too (idempotent: the inbox drops repeats)."""

    async def on_risk_flag_raised(event: RiskFlagRaised) -> None:
        await records.apply(
            event.patient_id,
            lambda r: flags.decide_flag_raised_elsewhere(r, event),
            event_id=str(event.event_id),
        )

    async def on_risk_flag_acknowledged(event: RiskFlagAcknowledged) -> None:
        await records.apply(
            event.patient_id,
            lambda r: flags.decide_flag_acknowledged_elsewhere(r, event),
            event_id=str(event.event_id),
        )

    return {
        Topic.SESSION: {
            RiskFlagRaised: on_risk_flag_raised,
            RiskFlagAcknowledged: on_risk_flag_acknowledged,
        },
        Topic.COACHING: {RiskFlagRaised: on_risk_flag_raised},
    }


def escalation_sweep(service: Service, records: IntakeRecords) -> Callable[[datetime], Any]:
    """Escalate every risk flag whose acknowledgement deadline has passed, once."""

    async def sweep(now: datetime) -> int:
        fired = 0
        for patient_id in await records.awaiting_escalation():
            applied = await records.apply(
                patient_id,
                existing(patient_id, lambda r: flags.decide_escalations(r, now, service.name)),
            )
            fired += len(applied.events)
        return fired

    return sweep


def routes(
    service: Service,
    records: IntakeRecords,
    responses: Responses,
    rules: IntakeRules,
    network: Network,
    payers: Payers,
    vault: IdentityVault,
) -> APIRouter:
    router = APIRouter(tags=["intake"])
    skew = timedelta(minutes=rules.clock_skew_minutes)

    async def scoped(patient_id: str, principal: Principal) -> IntakeRecord:
        record = await records.load(patient_id)
        if record is None or not principal.may_access(record.site_id):
            raise PatientNotFound(patient_id)
        return record

    async def applied_to(
        patient_id: str, principal: Principal, decide: Decide, inbox_id: str | None
    ) -> IntakeRecord:
        """Scope-check, decide and save; a charted time out of range is a 422 on its field."""
        await scoped(patient_id, principal)
        try:
            applied = await records.apply(patient_id, existing(patient_id, decide), inbox_id)
        except domain.ChartedTimeOutOfRange as error:
            raise invalid_field(("body", error.field), str(error)) from error
        assert applied.state is not None
        return applied.state

    async def change(
        patient_id: str, principal: Principal, decide: Decide, inbox_id: str | None
    ) -> ReferralOut:
        return summary(await applied_to(patient_id, principal, decide, inbox_id))

    async def once(
        request: Request,
        key: str | None,
        principal: Principal,
        body: BaseModel,
        run: Run,
        code: int = status.HTTP_200_OK,
    ) -> JSONResponse:
        """Run a command at most once per Idempotency-Key; retries get the first response."""
        if key is None:
            return JSONResponse(_json(await run(None)), status_code=code)
        scope = Responses.scope(principal.subject, request.url.path, key)
        fingerprint = Responses.fingerprint(body.model_dump_json())
        first = await responses.first(scope, fingerprint)
        if first is not None:
            return JSONResponse(first[1], status_code=first[0])
        result = _json(await run(f"http:{scope}"))
        await responses.remember(scope, fingerprint, code, result)
        return JSONResponse(result, status_code=code)

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
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        if body.site_id not in network.site_ids:
            raise invalid_field(("body", "site_id"), f"unknown site {body.site_id!r}")
        if body.payer not in payers.payers:
            raise invalid_field(("body", "payer"), f"unknown payer {body.payer!r}")
        principal.require_site(body.site_id)

        async def create(inbox_id: str | None) -> ReferralOut:
            new = stable_id("referral", inbox_id) if inbox_id else uuid4()
            patient_id = f"pat-{new.hex[:12]}"
            audit_patient(request, patient_id)
            sealed = await vault.seal(patient_id, body.identity.to_identity(), service.clock())
            record, events = domain.decide_referral(
                patient_id,
                body.to_domain(sealed),
                service.stamp(),
                rules,
                payers.rule(body.payer),
                uuid4(),
            )
            applied = await records.apply(patient_id, lambda _: (record, events), inbox_id)
            assert applied.state is not None
            return summary(applied.state)

        return await once(request, idempotency_key, principal, body, create, 201)

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
        record = await scoped(patient_id, principal)
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
        request: Request,
        patient_id: str,
        flag_id: str,
        body: AcknowledgeIn,
        principal: Psychiatrist,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        stamp = service.stamp()
        decide = lambda r: flags.decide_acknowledge(  # noqa: E731
            r, flag_id, principal.subject, body.note, stamp
        )
        return await once(
            request, idempotency_key, principal, body,
            lambda inbox: change(patient_id, principal, decide, inbox),
        )  # fmt: skip

    @router.post("/patients/{patient_id}/contraindications/{kind}/override")
    async def override(
        request: Request,
        patient_id: str,
        kind: Contraindication,
        body: OverrideIn,
        principal: Psychiatrist,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        stamp = service.stamp()
        decide = lambda r: review.decide_override(  # noqa: E731
            r, kind, body.reason, principal.subject, stamp
        )
        return await once(
            request, idempotency_key, principal, body,
            lambda inbox: change(patient_id, principal, decide, inbox),
        )  # fmt: skip

    @router.post("/patients/{patient_id}/medications")
    async def update_medications(
        request: Request,
        patient_id: str,
        body: MedicationsIn,
        principal: Annotated[Principal, Depends(require(*UPDATES_MEDICATIONS))],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        stamp = service.stamp()
        decide = lambda r: domain.decide_medications(r, body.medications, stamp, rules)  # noqa: E731
        return await once(
            request, idempotency_key, principal, body,
            lambda inbox: change(patient_id, principal, decide, inbox),
        )  # fmt: skip

    @router.post("/patients/{patient_id}/consents")
    async def consent(
        request: Request,
        patient_id: str,
        body: ConsentIn,
        principal: Annotated[
            Principal, Depends(require(Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST))
        ],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        stamp = service.stamp()
        decide = lambda r: domain.decide_consent(  # noqa: E731
            r, body.consent, body.given, stamp, recorded_at=body.recorded_at, skew=skew
        )
        return await once(
            request, idempotency_key, principal, body,
            lambda inbox: change(patient_id, principal, decide, inbox),
        )  # fmt: skip

    @router.post("/patients/{patient_id}/eligibility")
    async def decide_eligibility(
        request: Request,
        patient_id: str,
        body: EligibilityIn,
        principal: Psychiatrist,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        stamp = service.stamp()
        approval = review.Approval(body.protocol, body.modality)

        def decide(record: IntakeRecord) -> Decided:
            return review.decide_eligibility(
                record, body.decision, approval, body.planned_doses, body.reasons,
                principal.subject, stamp, decided_at=body.decided_at, skew=skew,
            )  # fmt: skip

        async def run(inbox: str | None) -> dict[str, Any]:
            record = await applied_to(patient_id, principal, decide, inbox)
            return {
                "patient_id": patient_id,
                "decision": record.decision,
                "protocol": record.protocol,
                "modality": record.modality,
            }

        return await once(request, idempotency_key, principal, body, run)

    return router


def _json(result: BaseModel | dict[str, Any]) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return {k: (v.value if hasattr(v, "value") else v) for k, v in result.items()}
