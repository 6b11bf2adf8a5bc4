"""Session's entry points: upstream subscribers and treatment-day HTTP routes.

Every route loads the record, checks site scope, decides in the domain and saves through the
aggregate store, whose outbox publishes the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from contracts import EventBase, Topic
from contracts.intake import MedicationInteractionFlagged, RiskFlagAcknowledged, RiskFlagRaised
from contracts.scheduling import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from services.runtime.aggregate import AggregateStore, Applied
from services.runtime.auth import Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.errors import explain, invalid_field
from services.runtime.service import Service
from services.session import domain, dosing
from services.session.api import CheckInIn, DischargeIn, DoseIn, VitalsIn, session_view
from services.session.domain import ObservedAtOutOfRangeError
from services.session.record import (
    PatientNotFound,
    Session,
    TreatmentRecord,
    absorb,
    session_of,
)
from services.session.rules import SessionRules

READERS = (Role.NURSE, Role.PSYCHIATRIST, Role.SITE_ADMIN, Role.OPS)
Nurse = Annotated[Principal, Depends(require(Role.NURSE))]
Reader = Annotated[Principal, Depends(require(*READERS))]
Outcome = tuple[TreatmentRecord, Sequence[EventBase]]
Decision = Callable[[TreatmentRecord], Outcome]
Store = AggregateStore[TreatmentRecord]


async def render_refusal(_request: Request, error: Exception) -> JSONResponse:
    """409 naming the broken rule, its reason (docstring) and the specifics (e.g. which
    discharge conditions are unmet)."""
    reasons = list(getattr(error, "reasons", ()))
    body = {"error": type(error).__name__, "detail": explain(error), "reasons": reasons}
    return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)


def view_of(applied: Applied[TreatmentRecord], session_id: str) -> dict[str, Any]:
    assert applied.state is not None
    return session_view(session_of(applied.state, session_id))


def event_routes(store: Store) -> dict[Topic, Routes]:
    """Bookings from scheduling; interactions and risk flags from intake."""

    async def on_upstream_event(event: EventBase) -> None:
        await store.apply(
            event.patient_id,
            lambda state: (absorb(event, state), []),
            event_id=str(event.event_id),
        )

    return {
        Topic.SCHEDULING: {
            AppointmentBooked: on_upstream_event,
            AppointmentRescheduled: on_upstream_event,
            AppointmentCancelled: on_upstream_event,
        },
        Topic.INTAKE: {
            MedicationInteractionFlagged: on_upstream_event,
            RiskFlagRaised: on_upstream_event,
            RiskFlagAcknowledged: on_upstream_event,
        },
    }


def routes(service: Service, store: Store, rules: SessionRules) -> APIRouter:
    router = APIRouter(prefix="/patients/{patient_id}/sessions", tags=["session"])

    async def record_of(patient_id: str) -> TreatmentRecord:
        record = (await store.load(patient_id)).state
        if record is None:
            raise PatientNotFound(patient_id)
        return record

    async def scoped(patient_id: str, session_id: str, principal: Principal) -> Session:
        session = session_of(await record_of(patient_id), session_id)
        principal.require_site(session.site_id)
        return session

    async def change(patient_id: str, decide: Decision) -> Applied[TreatmentRecord]:
        def decide_existing(record: TreatmentRecord | None) -> Outcome:
            if record is None:
                raise PatientNotFound(patient_id)
            return decide(record)

        try:
            applied = await store.apply(patient_id, decide_existing)
        except ObservedAtOutOfRangeError as error:
            raise invalid_field(("body", "observed_at"), str(error)) from error
        return applied

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def check_in(
        patient_id: str, body: CheckInIn, principal: Nurse, response: Response
    ) -> dict[str, Any]:
        record, session_id = await record_of(patient_id), domain.session_id_for(body.appointment_id)
        known = record.sessions.get(session_id) or record.bookings.get(body.appointment_id)
        if known is not None:
            principal.require_site(known.site_id)
        stamp = service.stamp()
        command = body.to_command(stamp.now)
        applied = await change(
            patient_id, lambda r: domain.decide_check_in(r, command, stamp, rules)
        )
        if not applied.events:
            response.status_code = status.HTTP_200_OK
        return view_of(applied, session_id)

    @router.post("/{session_id}/vitals", status_code=status.HTTP_201_CREATED)
    async def record_vitals(
        patient_id: str, session_id: str, body: VitalsIn, principal: Nurse
    ) -> dict[str, Any]:
        await scoped(patient_id, session_id, principal)
        stamp = service.stamp()
        command = body.to_command(session_id, stamp.now)
        applied = await change(patient_id, lambda r: domain.decide_vitals(r, command, stamp, rules))
        return view_of(applied, session_id)

    @router.post("/{session_id}/dose", status_code=status.HTTP_201_CREATED)
    async def administer_dose(
        patient_id: str, session_id: str, body: DoseIn, principal: Nurse
    ) -> dict[str, Any]:
        await scoped(patient_id, session_id, principal)
        stamp = service.stamp()
        command = body.to_command(session_id, principal.subject, stamp.now)
        applied = await change(patient_id, lambda r: dosing.decide_dose(r, command, stamp, rules))
        return view_of(applied, session_id)

    @router.post("/{session_id}/discharge")
    async def discharge(
        patient_id: str, session_id: str, body: DischargeIn, principal: Nurse
    ) -> dict[str, Any]:
        await scoped(patient_id, session_id, principal)
        stamp = service.stamp()
        command = body.to_command(session_id, stamp.now)
        applied = await change(
            patient_id, lambda r: dosing.decide_discharge(r, command, stamp, rules)
        )
        return view_of(applied, session_id)

    @router.get("/{session_id}")
    async def read(patient_id: str, session_id: str, principal: Reader) -> dict[str, Any]:
        return session_view(await scoped(patient_id, session_id, principal))

    return router
