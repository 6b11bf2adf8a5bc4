"""Session's entry points: upstream subscribers, treatment-day HTTP routes, the clock sweep.

Every route loads the record, checks site scope, decides in the domain and saves through the
aggregate store, whose outbox publishes the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from contracts import EventBase, Stamp, Topic
from contracts.audit import AuditAction, AuditedResource
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    MedicationInteractionFlagged,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CourseExtended,
    CourseScheduled,
    CourseTransferred,
    SiteCertificationChanged,
)
from services.runtime.aggregate import AggregateStore, Applied
from services.runtime.audit import audited
from services.runtime.auth import ALL_SITES, Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.errors import invalid_field
from services.runtime.service import Service
from services.session import discharge, domain, dosing, gates, invariants, rems_form, safety
from services.session.absorb import absorb
from services.session.api import (
    AcceptBloodPressureIn,
    AdverseEventIn,
    CheckInIn,
    DischargeIn,
    DoseIn,
    FormIn,
    ObservedIn,
    OverrideIn,
    VitalsIn,
    session_view,
)
from services.session.clocks import clock_index, decide_clocks
from services.session.domain import FieldOutOfRangeError
from services.session.record import (
    PatientNotFound,
    Session,
    SessionNotFound,
    TreatmentRecord,
    session_of,
)
from services.session.rules import SessionRules

READERS = (Role.NURSE, Role.PSYCHIATRIST, Role.SITE_ADMIN, Role.OPS)
Nurse = Annotated[Principal, Depends(require(Role.NURSE))]
Prescriber = Annotated[Principal, Depends(require(Role.PSYCHIATRIST))]
Clinician = Annotated[Principal, Depends(require(Role.NURSE, Role.PSYCHIATRIST))]
Reader = Annotated[Principal, Depends(require(*READERS))]
Outcome = tuple[TreatmentRecord, Sequence[EventBase]]
Decision = Callable[[TreatmentRecord], Outcome]
Step = Callable[[TreatmentRecord, Stamp], Outcome]
"""One charting step: the record as stored and a fresh stamp in, the new record and events out."""
Store = AggregateStore[TreatmentRecord]
RECORD_READ = audited(AuditedResource.SESSION_RECORD, AuditAction.READ)
"""Each read writes one audit entry (services/runtime/audit.py)."""


def view_of(
    applied: Applied[TreatmentRecord], session_id: str, rules: SessionRules
) -> dict[str, Any]:
    assert applied.state is not None
    return session_view(session_of(applied.state, session_id), rules)


def event_routes(service: Service, store: Store, rules: SessionRules) -> dict[Topic, Routes]:
    """The per-patient safety view, from every service that owns a fact a treatment step gates
    on (DESIGN safety invariants): bookings, the course plan, transfers and site certification
    from scheduling; referral, interactions, risk flags, consents and eligibility from intake;
    risk flags from coaching's follow-up PHQ-9. A fact that arrives after a dose it would have
    refused raises that dose (`invariants.decide_unsafe_doses`)."""

    async def on_upstream_event(event: EventBase) -> None:
        def learn(state: TreatmentRecord | None) -> Outcome:
            return invariants.decide_unsafe_doses(
                absorb(event, state), service.stamp_for(event), rules
            )

        await store.apply(
            event.patient_id,
            learn,
            event_id=str(event.event_id),
            indexed=lambda r: clock_index(r, rules),
        )

    return {
        Topic.SCHEDULING: {
            AppointmentBooked: on_upstream_event,
            AppointmentRescheduled: on_upstream_event,
            AppointmentCancelled: on_upstream_event,
            CourseScheduled: on_upstream_event,
            CourseExtended: on_upstream_event,
            CourseTransferred: on_upstream_event,
            SiteCertificationChanged: on_upstream_event,
        },
        Topic.COACHING: {RiskFlagRaised: on_upstream_event},
        Topic.INTAKE: {
            PatientReferred: on_upstream_event,
            MedicationInteractionFlagged: on_upstream_event,
            RiskFlagRaised: on_upstream_event,
            RiskFlagAcknowledged: on_upstream_event,
            ConsentRecorded: on_upstream_event,
            EligibilityDecided: on_upstream_event,
        },
    }


def in_scope(principal: Principal, record: TreatmentRecord) -> bool:
    """The token covers a site where the patient is booked or has been treated."""
    sites = {b.site_id for b in record.bookings.values()}
    sites |= {s.site_id for s in record.sessions.values()}
    return ALL_SITES in principal.sites or any(principal.may_access(site) for site in sites)


def clock_sweep(store: Store, rules: SessionRules) -> Callable[[datetime], Any]:
    """Find records with a clock due by `now`, then fire each under the aggregate lock, where
    `decide_clocks` re-checks it (safe with several sweepers; see `clocks`)."""

    def fire(record: TreatmentRecord | None, now: datetime) -> Outcome:
        if record is None:
            raise PatientNotFound("swept record vanished")
        return decide_clocks(record, now, rules)

    async def sweep(now: datetime) -> int:
        found = store.collection.find({"clocks_pending": True}, {"clock_due_at": 1})
        due = [
            doc["_id"]
            async for doc in found
            if doc.get("clock_due_at") and datetime.fromisoformat(doc["clock_due_at"]) <= now
        ]
        fired = 0
        for patient_id in due:
            applied = await store.apply(
                patient_id, lambda r: fire(r, now), indexed=lambda r: clock_index(r, rules)
            )
            fired += len(applied.events)
        return fired

    return sweep


def routes(service: Service, store: Store, rules: SessionRules) -> APIRouter:
    router = APIRouter(prefix="/patients/{patient_id}/sessions", tags=["session"])

    async def record_of(patient_id: str, principal: Principal) -> TreatmentRecord:
        """The patient's record if the token covers a site of it; otherwise answered like an
        unknown patient (404), so a site's scope does not reveal what exists at another."""
        record = (await store.load(patient_id)).state
        if record is None or not in_scope(principal, record):
            raise PatientNotFound(patient_id)
        return record

    async def scoped(patient_id: str, session_id: str, principal: Principal) -> Session:
        """The session if the token covers its site; otherwise answered like an unknown one."""
        session = session_of(await record_of(patient_id, principal), session_id)
        if not principal.may_access(session.site_id):
            raise SessionNotFound(session_id)
        return session

    async def change(patient_id: str, decide: Decision) -> Applied[TreatmentRecord]:
        """Load once, decide, commit (the aggregate store retries a lost race); a missing
        record is a 404 and a charted time out of range a 422 naming its field."""

        def decide_existing(record: TreatmentRecord | None) -> Outcome:
            if record is None:
                raise PatientNotFound(patient_id)
            return decide(record)

        try:
            applied = await store.apply(
                patient_id, decide_existing, indexed=lambda r: clock_index(r, rules)
            )
        except FieldOutOfRangeError as error:
            raise invalid_field(("body", error.field), str(error)) from error
        return applied

    async def act(
        patient_id: str, session_id: str, principal: Principal, step: Step
    ) -> dict[str, Any]:
        """Run one charting step on the record as stored, only if the token covers the
        session's current site there (DESIGN safety invariant 3: a transfer moves the session,
        and with it who may chart it); answer with the updated session."""
        stamp = service.stamp()

        def in_scope_then(record: TreatmentRecord) -> Outcome:
            if not in_scope(principal, record):
                raise PatientNotFound(patient_id)
            if not principal.may_access(session_of(record, session_id).site_id):
                raise SessionNotFound(session_id)
            return step(record, stamp)

        return view_of(await change(patient_id, in_scope_then), session_id, rules)

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def check_in(
        patient_id: str, body: CheckInIn, principal: Nurse, response: Response
    ) -> dict[str, Any]:
        """Open the treatment day of a booked appointment. A patient none of whose bookings or
        sessions is at the nurse's sites is answered as unknown (404), like a missing one."""
        session_id = domain.session_id_for(body.appointment_id)

        def step(record: TreatmentRecord, stamp: Stamp) -> Outcome:
            if not in_scope(principal, record):
                raise PatientNotFound(patient_id)
            known = record.sessions.get(session_id) or record.bookings.get(body.appointment_id)
            if known is not None:
                principal.require_site(known.site_id)
            return domain.decide_check_in(record, body.to_command(stamp.now), stamp, rules)

        stamp = service.stamp()
        applied = await change(patient_id, lambda record: step(record, stamp))
        if not applied.events:
            response.status_code = status.HTTP_200_OK
        return view_of(applied, session_id, rules)

    @router.post("/{session_id}/interactions/acknowledge")
    async def acknowledge_interactions(
        patient_id: str, session_id: str, body: ObservedIn, principal: Clinician
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.acknowledge(session_id, principal.subject, s.now)
            return gates.decide_acknowledge_interactions(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/vitals", status_code=status.HTTP_201_CREATED)
    async def record_vitals(
        patient_id: str, session_id: str, body: VitalsIn, principal: Nurse
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            return domain.decide_vitals(r, body.to_command(session_id, s.now), s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/dose-hold/override")
    async def override_hold(
        patient_id: str, session_id: str, body: OverrideIn, principal: Prescriber
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.to_command(session_id, principal.subject, s.now)
            return gates.decide_override_hold(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/discharge-blood-pressure/accept")
    async def accept_discharge_bp(
        patient_id: str, session_id: str, body: AcceptBloodPressureIn, principal: Prescriber
    ) -> dict[str, Any]:
        """A prescriber accepts a post-dose reading above the pre-dose limit for discharge,
        with a reason (DESIGN safety invariant 5)."""

        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.to_command(session_id, principal.subject, s.now)
            return gates.decide_accept_discharge_bp(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/dose", status_code=status.HTTP_201_CREATED)
    async def administer_dose(
        patient_id: str, session_id: str, body: DoseIn, principal: Nurse
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.to_command(session_id, principal.subject, s.now)
            return dosing.decide_dose(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/adverse-events", status_code=status.HTTP_201_CREATED)
    async def report_adverse_event(
        patient_id: str, session_id: str, body: AdverseEventIn, principal: Clinician
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.to_command(session_id, principal.subject, s.now)
            return safety.decide_adverse_event(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/risk-flags/{flag_id}/acknowledge")
    async def acknowledge_flag(
        patient_id: str, session_id: str, flag_id: UUID, body: ObservedIn, principal: Prescriber
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.acknowledge_flag(session_id, flag_id, principal.subject, s.now)
            return safety.decide_acknowledge_flag(r, command, s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.post("/{session_id}/discharge")
    async def discharge_patient(
        patient_id: str, session_id: str, body: DischargeIn, principal: Nurse
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            return discharge.decide_discharge(r, body.to_command(session_id, s.now), s, rules)

        return await act(patient_id, session_id, principal, step)

    @router.get("/{session_id}/monitoring-form", dependencies=[RECORD_READ])
    async def monitoring_form(
        patient_id: str, session_id: str, principal: Reader
    ) -> dict[str, Any]:
        session = await scoped(patient_id, session_id, principal)
        try:
            return rems_form.draft(session, rules)
        except FieldOutOfRangeError as error:
            raise invalid_field(("path", "session_id"), str(error)) from error

    @router.post("/{session_id}/monitoring-form")
    async def submit_monitoring_form(
        patient_id: str, session_id: str, body: FormIn, principal: Clinician
    ) -> dict[str, Any]:
        def step(r: TreatmentRecord, s: Stamp) -> Outcome:
            command = body.to_command(session_id, principal.subject, s.now)
            return rems_form.decide_submit_form(r, command, s, rules)

        await act(patient_id, session_id, principal, step)
        return rems_form.draft(await scoped(patient_id, session_id, principal), rules)

    @router.get("/{session_id}", dependencies=[RECORD_READ])
    async def read(patient_id: str, session_id: str, principal: Reader) -> dict[str, Any]:
        return session_view(await scoped(patient_id, session_id, principal), rules)

    return router
