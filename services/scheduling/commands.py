"""Scheduling commands from clinicians on single appointments: book and reschedule. Pure like
domain.py: they return an Outcome. Cancellations and no-shows are in `attendance.py`; changes
to the course as a whole (extend, decide a proposal, transfer) in `course_changes.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import EventBase
from contracts.scheduling import (
    AppointmentRescheduled,
)
from contracts.vocabulary import AppointmentKind, CoursePhase
from services.scheduling import errors
from services.scheduling.course import (
    Appointment,
    Course,
    CourseStatus,
    entity_id,
)
from services.scheduling.decision import Context, Outcome, booked, holds
from services.scheduling.network import Site
from services.scheduling.rems import rems_blocks
from services.scheduling.rules import ProtocolPlan, SchedulingRules
from services.scheduling.slot_requests import check
from services.scheduling.slots import Need, Occupancy, Wanted, claims

TREATMENT = (AppointmentKind.DOSING, AppointmentKind.BOOSTER)


@dataclass(frozen=True)
class Book:
    kind: AppointmentKind
    starts_at: datetime
    wanted: Wanted
    dose_number: int | None = None
    for_dose: int | None = None


def active(course: Course | None) -> Course:
    if course is None:
        raise errors.CourseNotFound("no course")
    if course.status not in (CourseStatus.ACTIVE, CourseStatus.COMPLETED) or not course.protocol:
        raise errors.CourseNotActive(course.status.value)
    return course


def site_of(course: Course, ctx: Context) -> Site:
    site = ctx.network.site(course.site_id)
    if site is None:
        raise errors.UnknownSite(course.site_id)
    return site


def plan_of(course: Course, ctx: Context) -> ProtocolPlan:
    assert course.protocol is not None
    return ctx.rules.plan(course.protocol)


def minutes_for(kind: AppointmentKind, plan: ProtocolPlan, rules: SchedulingRules) -> int:
    """Treatment slots follow the protocol's monitoring time; therapy sessions their config."""
    if kind in TREATMENT:
        return plan.dose_minutes
    if kind is AppointmentKind.PREPARATION:
        return rules.preparation_minutes
    return rules.integration_minutes


def without(course: Course, appointment: Appointment, ctx: Context) -> Occupancy:
    """The occupancy as if `appointment` were not booked (it is about to move)."""
    occupancy = ctx.occupancy.copy()
    wanted = claims(appointment.placement, course.patient_id, ctx.network)
    occupancy.remove(wanted, appointment.starts_at, appointment.ends_at)
    return occupancy


def decide_book(course: Course | None, command: Book, ctx: Context) -> Outcome:
    """A clinician books one appointment at a chosen time. The slot is checked rule by rule
    (past, 15-minute grid, site closed, opening hours, provider known/qualified/working, free);
    esketamine treatment only at REMS-certified sites (Spravato REMS); a treatment day only
    within the course's planned doses, which a booking never changes (DESIGN safety
    invariant 6: extending a course is a prescriber's decision)."""
    course = active(course)
    site, plan = site_of(course, ctx), plan_of(course, ctx)
    if command.kind in TREATMENT and rems_blocks(plan, site):
        raise errors.SiteNotRemsCertified(site.site_id)
    need = Need.of(command.kind, minutes_for(command.kind, plan, ctx.rules))
    placement = check(
        need,
        site,
        ctx.network,
        ctx.occupancy,
        course.patient_id,
        command.starts_at,
        ctx.stamp.now,
        command.wanted,
    )
    number = None
    if command.kind in TREATMENT:
        number = command.dose_number or next_dose_number(course)
        within_plan(course, number)
    suffix = f"{command.kind.value[:4]}-{ctx.stamp.new_id().hex[:10]}"
    appointment = Appointment(
        appointment_id=entity_id("apt", course.patient_id, suffix),
        kind=command.kind,
        dose_number=number,
        course_phase=_phase_of(course, plan, number) if number is not None else None,
        for_dose=command.for_dose,
        **placement.model_dump(),
    )
    updated = course.with_appointment(appointment)
    return Outcome(updated, (booked(updated, appointment, ctx.stamp),), holds(appointment))


def next_dose_number(course: Course) -> int:
    """The number after the highest treatment day ever booked (cancelled ones included)."""
    return max((a.dose_number or 0 for a in course.appointments), default=0) + 1


def within_plan(course: Course, number: int) -> None:
    """DESIGN safety invariant 6: a completed course is not dosed on its old terms, and the
    planned doses change only by a prescriber's extension (`decide_extend`), never as a side
    effect of booking."""
    planned = course.planned_doses or 0
    if course.status is CourseStatus.COMPLETED:
        raise errors.CourseCompleted(
            f"dose {number}; the course completed its {planned} planned doses; "
            "a prescriber extends the course"
        )
    if number > planned:
        raise errors.BeyondPlannedDoses(
            f"dose {number}; the course plans {planned} doses; a prescriber extends the course"
        )


def _phase_of(course: Course, plan: ProtocolPlan, number: int | None) -> CoursePhase:
    induction = plan.phases[0].doses or 0
    return CoursePhase.INDUCTION if (number or 1) <= induction else CoursePhase.MAINTENANCE


def booked_appointment(course: Course | None, appointment_id: str) -> tuple[Course, Appointment]:
    if course is None:
        raise errors.CourseNotFound("no course")
    appointment = course.appointment(appointment_id)
    if appointment is None:
        raise errors.AppointmentNotFound(appointment_id)
    if not appointment.live:
        raise errors.AppointmentNotBooked(appointment.status.value)
    return course, appointment


def decide_reschedule(
    course: Course | None,
    appointment_id: str,
    starts_at: datetime,
    wanted: Wanted,
    reason: str,
    ctx: Context,
) -> Outcome:
    """Move a booked appointment within its site; its own old slot does not block the move."""
    course, appointment = booked_appointment(course, appointment_id)
    site = site_of(course, ctx)
    minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
    need = Need.of(appointment.kind, minutes)
    moving = Context(ctx.network, without(course, appointment, ctx), ctx.stamp, ctx.rules)
    placement = check(
        need,
        site,
        ctx.network,
        moving.occupancy,
        course.patient_id,
        starts_at,
        ctx.stamp.now,
        wanted,
    )
    moved = appointment.placed(placement)
    updated = course.with_appointment(moved)
    return Outcome(updated, (rescheduled(updated, moved, reason, ctx),), holds(moved))


def rescheduled(course: Course, moved: Appointment, reason: str, ctx: Context) -> EventBase:
    return AppointmentRescheduled(
        **ctx.stamp.envelope(course.patient_id, moved.site_id or course.site_id),
        appointment_id=moved.appointment_id,
        starts_at=moved.starts_at,
        ends_at=moved.ends_at,
        reason=reason,
        chair_id=moved.chair_id,
        provider_id=moved.provider_id,
        room_id=moved.room_id,
    )
