"""Scheduling's entry points: event subscribers and HTTP routes (scope -> decide -> book).

The booker reads occupancy, runs the pure decision, reserves slots in the database, commits
the course with its outbox and inbox, and releases what the decision freed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from contracts import EventBase, Topic
from contracts.coaching import IntegrationBookingRequested, RelapseSuspected
from contracts.intake import EligibilityDecided
from contracts.scheduling import AppointmentBooked
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, Protocol
from services.runtime.auth import Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.logging import get_logger
from services.runtime.service import Service
from services.scheduling import commands, course_changes, domain, errors
from services.scheduling.api import (
    AppointmentOut,
    AvailabilityOut,
    BookIn,
    CancelIn,
    CourseOut,
    ExtendIn,
    RescheduleIn,
    TransferIn,
)
from services.scheduling.booker import Booker, Decide, Scope, resources
from services.scheduling.course import Course
from services.scheduling.decision import Outcome
from services.scheduling.slot_requests import available, search_days
from services.scheduling.slots import Need, Wanted

log = get_logger(__name__)

READERS = (
    Role.INTAKE_COORDINATOR,
    Role.PSYCHIATRIST,
    Role.NURSE,
    Role.THERAPIST,
    Role.SITE_ADMIN,
    Role.OPS,
)
BOOKERS = (Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST, Role.NURSE, Role.THERAPIST, Role.SITE_ADMIN)
ATTENDANCE = (Role.NURSE, Role.THERAPIST, Role.SITE_ADMIN)
PRESCRIBERS = (Role.PSYCHIATRIST,)
MOVERS = (Role.PSYCHIATRIST, Role.SITE_ADMIN)


def course_scope(site_id: str, first: date, days: int) -> Callable[[Course | None], Scope]:
    def scope(course: Course | None) -> Scope:
        sites = tuple({site_id, *([course.site_id] if course else [])})
        return Scope(sites, first, days)

    return scope


def horizon_days(planned: int | None) -> int:
    """Occupancy to read for a whole course: generous for every protocol's cadence."""
    return min(30 + (planned or 8) * 16, 800)


def log_outcome(outcome: Outcome | None) -> None:
    """Say why nothing was booked: ids, protocol and reason only, never identity data."""
    if outcome is None or outcome.course.blocked_reason is None or not outcome.events:
        return
    course = outcome.course
    log.warning(
        "course_blocked",
        site_id=course.site_id,
        course_id=course.course_id,
        protocol=course.protocol,
        reason=course.blocked_reason,
    )


def subscriptions(service: Service, booker: Booker) -> dict[Topic, Routes]:
    """The routing table: which events scheduling reacts to, per topic."""

    async def react(event: EventBase, decide: Decide, days: int = 45) -> Outcome | None:
        stamp = service.stamp_for(event)
        first = max(event.occurred_at, stamp.now).date()
        scope = course_scope(event.site_id, first, days)
        return await booker.run(
            event.patient_id, scope, decide, stamp, event_id=str(event.event_id), retry_taken=True
        )

    async def on_eligibility_decided(event: EligibilityDecided) -> None:
        outcome = await react(
            event,
            lambda c, ctx: domain.decide_eligibility(c, event, ctx),
            horizon_days(event.planned_doses),
        )
        log_outcome(outcome)

    async def on_session_discharged(event: SessionDischarged) -> None:
        await react(event, lambda c, ctx: domain.decide_discharge(c, event, ctx))

    async def on_relapse_suspected(event: RelapseSuspected) -> None:
        await react(event, lambda c, ctx: domain.decide_relapse(c, event, ctx))

    async def on_integration_booking_requested(event: IntegrationBookingRequested) -> None:
        await react(event, lambda c, ctx: domain.decide_integration_request(c, event, ctx), 10)

    return {
        Topic.INTAKE: {EligibilityDecided: on_eligibility_decided},
        Topic.SESSION: {SessionDischarged: on_session_discharged},
        Topic.COACHING: {
            RelapseSuspected: on_relapse_suspected,
            IntegrationBookingRequested: on_integration_booking_requested,
        },
    }


def routes(service: Service, booker: Booker) -> APIRouter:
    router = APIRouter(tags=["scheduling"])

    async def course_of(patient_id: str, principal: Principal) -> Course:
        course = (await booker.store.load(patient_id)).state
        if course is None or not principal.may_access(course.site_id):
            raise errors.CourseNotFound(patient_id)
        return course

    async def command(
        patient_id: str,
        principal: Principal,
        decide: Decide,
        first: date | None = None,
        days: int = 2,
    ) -> Outcome:
        course = await course_of(patient_id, principal)
        stamp = service.stamp()
        scope = course_scope(course.site_id, first or stamp.now.date(), days)
        outcome = await booker.run(patient_id, scope, decide, stamp)
        assert outcome is not None
        return outcome

    def appointment_out(outcome: Outcome, appointment_id: str) -> AppointmentOut:
        appointment = outcome.course.appointment(appointment_id)
        assert appointment is not None
        return AppointmentOut.of(appointment)

    @router.get("/patients/{patient_id}/course")
    async def read_course(
        patient_id: str, principal: Annotated[Principal, Depends(require(*READERS))]
    ) -> CourseOut:
        return CourseOut.of(await course_of(patient_id, principal))

    @router.post("/patients/{patient_id}/appointments", status_code=status.HTTP_201_CREATED)
    async def book(
        patient_id: str, body: BookIn, principal: Annotated[Principal, Depends(require(*BOOKERS))]
    ) -> AppointmentOut:
        """Book one appointment at a chosen time; 409 when the slot is taken."""
        wanted = Wanted(body.chair_id, body.room_id, body.provider_id)
        booking = commands.Book(body.kind, body.starts_at, wanted, body.dose_number, body.for_dose)
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: commands.decide_book(c, booking, ctx),
            body.starts_at.astimezone(UTC).date(),
        )
        booked = next(e for e in outcome.events if isinstance(e, AppointmentBooked))
        return appointment_out(outcome, booked.appointment_id)

    @router.post("/patients/{patient_id}/appointments/{appointment_id}/reschedule")
    async def reschedule(
        patient_id: str,
        appointment_id: str,
        body: RescheduleIn,
        principal: Annotated[Principal, Depends(require(*BOOKERS))],
    ) -> AppointmentOut:
        wanted = Wanted(body.chair_id, body.room_id, body.provider_id)
        await command(
            patient_id,
            principal,
            lambda c, ctx: commands.decide_reschedule(
                c, appointment_id, body.starts_at, wanted, body.reason, ctx
            ),
            body.starts_at.astimezone(UTC).date(),
        )
        return appointment_out_of(await course_of(patient_id, principal), appointment_id)

    @router.post("/patients/{patient_id}/appointments/{appointment_id}/cancel")
    async def cancel(
        patient_id: str,
        appointment_id: str,
        body: CancelIn,
        principal: Annotated[Principal, Depends(require(*BOOKERS))],
    ) -> AppointmentOut:
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: commands.decide_cancel(c, appointment_id, body.reason, ctx),
        )
        return appointment_out(outcome, appointment_id)

    @router.post("/patients/{patient_id}/appointments/{appointment_id}/no-show")
    async def no_show(
        patient_id: str,
        appointment_id: str,
        principal: Annotated[Principal, Depends(require(*ATTENDANCE))],
    ) -> AppointmentOut:
        outcome = await command(
            patient_id, principal, lambda c, ctx: commands.decide_no_show(c, appointment_id, ctx)
        )
        return appointment_out(outcome, appointment_id)

    @router.post("/patients/{patient_id}/course/proposals/{proposal_id}/{verdict}")
    async def decide_proposal(
        patient_id: str,
        proposal_id: str,
        verdict: Literal["confirm", "decline"],
        principal: Annotated[Principal, Depends(require(*PRESCRIBERS))],
    ) -> CourseOut:
        """A prescriber confirms (books the booster / re-plans the frequency) or declines."""
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: course_changes.decide_proposal(
                c, proposal_id, verdict == "confirm", principal.subject, ctx
            ),
            days=60,
        )
        return CourseOut.of(outcome.course)

    @router.post("/patients/{patient_id}/course/extend")
    async def extend(
        patient_id: str,
        body: ExtendIn,
        principal: Annotated[Principal, Depends(require(*PRESCRIBERS))],
    ) -> CourseOut:
        """A prescriber raises the planned doses; a completed course becomes active again."""
        extension = course_changes.Extend(body.planned_doses, body.reason, principal.subject)
        outcome = await command(
            patient_id, principal, lambda c, ctx: course_changes.decide_extend(c, extension, ctx)
        )
        return CourseOut.of(outcome.course)

    @router.post("/patients/{patient_id}/course/transfer")
    async def transfer(
        patient_id: str,
        body: TransferIn,
        principal: Annotated[Principal, Depends(require(*MOVERS))],
    ) -> CourseOut:
        """Move the course to another site (esketamine: both sites REMS-certified)."""
        principal.require_site(body.site_id)
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: course_changes.decide_transfer(c, body.site_id, body.reason, ctx),
            days=400,
        )
        return CourseOut.of(outcome.course)

    @router.get("/sites/{site_id}/availability")
    async def availability(
        site_id: str,
        kind: AppointmentKind,
        principal: Annotated[Principal, Depends(require(*BOOKERS))],
        start: Annotated[date | None, Query()] = None,
        days: Annotated[int, Query(ge=1, le=31)] = 7,
        protocol: Protocol = Protocol.ESKETAMINE_TRD,
    ) -> AvailabilityOut:
        """Free slots for one kind of appointment (treatment slots as long as `protocol`
        monitors), site-local days from `start` (today by default)."""
        principal.require_site(site_id)
        network = await booker.networks.load()
        site = network.site(site_id)
        if site is None:
            raise errors.UnknownSite(site_id)
        now = service.clock()
        wanted = search_days(site, start, days, now)
        plan = booker.rules.plan(protocol)
        need = Need.of(kind, commands.minutes_for(kind, plan, booker.rules))
        around = [wanted[0] - timedelta(days=1), *wanted, wanted[-1] + timedelta(days=1)]
        occupancy = await booker.reservations.occupancy(
            resources(network, (site_id,), "-"), around, None
        )
        slots = available(need, site, network, occupancy, "-", wanted, now)
        return AvailabilityOut(site_id=site_id, kind=kind, slots=slots)

    return router


def appointment_out_of(course: Course, appointment_id: str) -> AppointmentOut:
    appointment = course.appointment(appointment_id)
    if appointment is None:
        raise errors.AppointmentNotFound(appointment_id)
    return AppointmentOut.of(appointment)
