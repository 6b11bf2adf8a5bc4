"""Scheduling's HTTP routes: courses, appointments, course changes and availability.

Every command goes through `services.runtime.commands` with the booking's decision and hold
(`booking.py`): load once, scope on the stored course, decide against occupancy, reserve,
commit with the Idempotency-Key in the inbox, release what was freed.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from contracts.scheduling import AppointmentBooked
from contracts.vocabulary import AppointmentKind, Protocol
from services.runtime.auth import Principal, Role, require
from services.runtime.commands import Commands
from services.runtime.service import Service
from services.scheduling import attendance, course_changes, errors
from services.scheduling import commands as appointments
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
from services.scheduling.booking import Decide, Scope, resources
from services.scheduling.course import Course
from services.scheduling.decision import Outcome
from services.scheduling.slot_requests import available, search_days
from services.scheduling.slots import Need, Wanted
from services.scheduling.subscribers import Bookings

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


def routes(service: Service, bookings: Bookings) -> APIRouter:
    router = APIRouter(tags=["scheduling"])
    commands = Commands(
        bookings.store, errors.CourseNotFound, lambda p, course: p.may_access(course.site_id)
    )
    course_of = commands.read

    async def command(
        patient_id: str,
        principal: Principal,
        decide: Decide,
        first: date | None = None,
        days: int = 2,
    ) -> Outcome:
        """Book on the course as stored (a retry with the same Idempotency-Key is answered
        from it, and books nothing twice)."""
        stamp = service.stamp()

        def scope(course: Course | None) -> Scope:
            return Scope((course.site_id,) if course else (), first or stamp.now.date(), days)

        booking = bookings.booking(patient_id, scope, decide, stamp)
        changed = await commands.change(patient_id, principal, booking.decide, hold=booking.hold)
        if booking.outcome is None or changed.duplicate:
            return Outcome(changed.state, (), (), ())
        return booking.outcome

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
        booking = appointments.Book(
            body.kind, body.starts_at, wanted, body.dose_number, body.for_dose
        )
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: appointments.decide_book(c, booking, ctx),
            body.starts_at.astimezone(UTC).date(),
        )
        booked = next((e for e in outcome.events if isinstance(e, AppointmentBooked)), None)
        if booked is None:  # a retry of a booking already made: answer with that appointment
            found = next(
                (a for a in outcome.course.appointments
                 if a.live and a.kind is body.kind and a.starts_at == body.starts_at),
                None,
            )  # fmt: skip
            if found is None:
                raise errors.AppointmentNotFound(f"booking at {body.starts_at.isoformat()}")
            return AppointmentOut.of(found)
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
            lambda c, ctx: appointments.decide_reschedule(
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
            lambda c, ctx: attendance.decide_cancel(c, appointment_id, body.reason, ctx),
        )
        return appointment_out(outcome, appointment_id)

    @router.post("/patients/{patient_id}/appointments/{appointment_id}/no-show")
    async def no_show(
        patient_id: str,
        appointment_id: str,
        principal: Annotated[Principal, Depends(require(*ATTENDANCE))],
    ) -> AppointmentOut:
        outcome = await command(
            patient_id,
            principal,
            lambda c, ctx: attendance.decide_no_show(c, appointment_id, ctx),
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
        network = await bookings.networks.load()
        site = network.site(site_id)
        if site is None:
            raise errors.UnknownSite(site_id)
        now = service.clock()
        wanted = search_days(site, start, days, now)
        plan = bookings.rules.plan(protocol)
        need = Need.of(kind, appointments.minutes_for(kind, plan, bookings.rules))
        around = [wanted[0] - timedelta(days=1), *wanted, wanted[-1] + timedelta(days=1)]
        occupancy = await bookings.reservations.occupancy(
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
