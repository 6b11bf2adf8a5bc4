"""Session's HTTP routes: the treatment day, one charting step per route.

Each step runs through `services.runtime.commands`: the record is loaded once, the caller's
site scope is checked on the record as stored (DESIGN safety invariant 3: a transfer moves the
session, and with it who may chart it), the domain decides, and the aggregate store commits
state, inbox and outbox together; the outbox relay publishes the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from contracts import EventBase, Stamp
from contracts.audit import AuditAction, AuditedResource
from services.runtime.audit import audited
from services.runtime.auth import ALL_SITES, Principal, Role, require
from services.runtime.commands import Commands
from services.runtime.errors import invalid_field
from services.runtime.service import Service
from services.session import discharge, domain, dosing, gates, rems_form, safety
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
from services.session.chart import FieldOutOfRangeError, Session
from services.session.record import SessionNotFound, TreatmentRecord, session_of
from services.session.rules import SessionRules

READERS = (Role.NURSE, Role.PSYCHIATRIST, Role.SITE_ADMIN, Role.OPS)
Nurse = Annotated[Principal, Depends(require(Role.NURSE))]
Prescriber = Annotated[Principal, Depends(require(Role.PSYCHIATRIST))]
Clinician = Annotated[Principal, Depends(require(Role.NURSE, Role.PSYCHIATRIST))]
Reader = Annotated[Principal, Depends(require(*READERS))]
Outcome = tuple[TreatmentRecord, Sequence[EventBase]]
Step = Callable[[TreatmentRecord, Stamp], Outcome]
"""One charting step: the record as stored and a fresh stamp in, the new record and events out."""
RECORD_READ = audited(AuditedResource.SESSION_RECORD, AuditAction.READ)
"""Each read writes one audit entry (services/runtime/audit.py)."""


def in_scope(principal: Principal, record: TreatmentRecord) -> bool:
    """The token covers a site where the patient is booked or has been treated."""
    sites = {b.site_id for b in record.bookings.values()}
    sites |= {s.site_id for s in record.sessions.values()}
    return ALL_SITES in principal.sites or any(principal.may_access(site) for site in sites)


def routes(service: Service, commands: Commands[TreatmentRecord], rules: SessionRules) -> APIRouter:
    router = APIRouter(prefix="/patients/{patient_id}/sessions", tags=["session"])

    async def scoped(patient_id: str, session_id: str, principal: Principal) -> Session:
        """The session if the token covers its site; otherwise answered like an unknown one."""
        session = session_of(await commands.read(patient_id, principal), session_id)
        if not principal.may_access(session.site_id):
            raise SessionNotFound(session_id)
        return session

    async def act(
        patient_id: str, session_id: str, principal: Principal, step: Step
    ) -> dict[str, Any]:
        """Run one charting step on the record as stored, only if the token covers the
        session's current site there; answer with the updated session."""
        stamp = service.stamp()

        def on_session(record: TreatmentRecord) -> Outcome:
            if not principal.may_access(session_of(record, session_id).site_id):
                raise SessionNotFound(session_id)
            return step(record, stamp)

        changed = await commands.change(patient_id, principal, on_session)
        return session_view(session_of(changed.state, session_id), rules)

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def check_in(
        patient_id: str, body: CheckInIn, principal: Nurse, response: Response
    ) -> dict[str, Any]:
        """Open the treatment day of a booked appointment. A patient none of whose bookings or
        sessions is at the nurse's sites is answered as unknown (404), like a missing one."""
        session_id = domain.session_id_for(body.appointment_id)
        stamp = service.stamp()

        def step(record: TreatmentRecord) -> Outcome:
            known = record.sessions.get(session_id) or record.bookings.get(body.appointment_id)
            if known is not None:
                principal.require_site(known.site_id)
            return domain.decide_check_in(record, body.to_command(stamp.now), stamp, rules)

        changed = await commands.change(patient_id, principal, step)
        if not changed.events:
            response.status_code = status.HTTP_200_OK
        return session_view(session_of(changed.state, session_id), rules)

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
