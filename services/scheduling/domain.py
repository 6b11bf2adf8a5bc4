"""Scheduling rules reacting to other services' events: course generation on approval, the
next dose after a discharge, boosters after a suspected relapse, integration bookings
(a site's REMS certification change: rems.py).

decide_* functions are pure: what they read and return (Context, Outcome) is in decision.py.
"""

from __future__ import annotations

from datetime import timedelta

from contracts.coaching import IntegrationBookingRequested, RelapseSuspected
from contracts.envelope import EventBase, Stamp
from contracts.intake import EligibilityDecided
from contracts.scheduling import (
    BlockReason,
    BoosterProposed,
    CourseBlocked,
    CourseScheduled,
)
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, Decision
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    Course,
    CourseStatus,
    Proposal,
    ProposalKind,
    entity_id,
    session_appointment,
)
from services.scheduling.decision import Context, Outcome, booked, holds
from services.scheduling.errors import CourseNotFound
from services.scheduling.planning import Planner, dose_targets, plan_course
from services.scheduling.rems import rems_blocks
from services.scheduling.slots import Need


def block(course: Course, reason: BlockReason, stamp: Stamp) -> Outcome:
    """A course that cannot be booked says why, so the journey can show it."""
    blocked = course.model_copy(update={"status": CourseStatus.BLOCKED, "blocked_reason": reason})
    if course.protocol is None:
        return Outcome(blocked)
    event = CourseBlocked(
        **stamp.envelope(course.patient_id, course.site_id),
        course_id=course.course_id,
        protocol=course.protocol,
        reason=reason,
    )
    return Outcome(blocked, (event,))


def decide_eligibility(course: Course | None, decided: EligibilityDecided, ctx: Context) -> Outcome:
    """An approval with a protocol books the whole course (DESIGN journey steps 2-5:
    preparation, every planned treatment day, an integration session after each); a decline
    or a request for more information is only recorded. A booked course is not rebooked by a
    later decision; a blocked or unscheduled one is evaluated afresh."""
    if course is not None and course.status in (CourseStatus.ACTIVE, CourseStatus.COMPLETED):
        return Outcome(course.model_copy(update={"decision": decided.decision}))
    recorded = Course(
        course_id=entity_id("crs", decided.patient_id),
        patient_id=decided.patient_id,
        site_id=decided.site_id,
        decision=decided.decision,
        protocol=decided.protocol,
    )
    if decided.decision is not Decision.APPROVED or decided.protocol is None:
        return Outcome(recorded)
    site = ctx.network.site(decided.site_id)
    if site is None:
        return block(recorded, "unknown_site", ctx.stamp)
    plan = ctx.rules.plan(decided.protocol)
    if rems_blocks(plan, site):
        return block(recorded, "site_not_rems_certified", ctx.stamp)
    planned = decided.planned_doses or plan.planned_doses
    planner = Planner(decided.patient_id, site, ctx.network, ctx.occupancy.copy(), ctx.rules)
    result = plan_course(planner, plan, planned, max(decided.occurred_at, ctx.stamp.now))
    if result.doses_placed == 0:
        return block(recorded, "no_capacity", ctx.stamp)
    scheduled = recorded.model_copy(
        update={
            "status": CourseStatus.ACTIVE,
            "planned_doses": planned,
            "appointments": result.appointments,
        }
    )
    events: list[EventBase] = [
        CourseScheduled(
            **ctx.stamp.envelope(scheduled.patient_id, scheduled.site_id),
            course_id=scheduled.course_id,
            protocol=decided.protocol,
            planned_doses=planned,
        ),
        *(booked(scheduled, a, ctx.stamp) for a in result.appointments),
    ]
    return Outcome(scheduled, tuple(events), holds(*result.appointments))


def mark_given(course: Course, discharged: SessionDischarged) -> Course:
    """The discharged dose counts as given and its appointment as completed."""

    def attended(a: Appointment) -> bool:
        return a.appointment_id == discharged.appointment_id or (
            a.kind is AppointmentKind.DOSING and a.dose_number == discharged.dose_number and a.live
        )

    appointments = tuple(
        a.model_copy(update={"status": AppointmentStatus.COMPLETED}) if attended(a) else a
        for a in course.appointments
    )
    doses = tuple(sorted({*course.doses_given, discharged.dose_number}))
    return course.model_copy(update={"appointments": appointments, "doses_given": doses})


def decide_discharge(course: Course | None, discharged: SessionDischarged, ctx: Context) -> Outcome:
    """A discharge marks its dose given; the last planned dose completes the course (DESIGN
    journey step 4). When the next dose is not booked (cancelled, or a course booked before
    whole-course scheduling), it is booked from the protocol's cadence.

    Raises CourseNotFound when no course exists yet (cross-topic reordering during a replay):
    the consumer retries and then dead-letters it for re-drive instead of losing the dose.
    """
    if course is None:
        raise CourseNotFound(discharged.patient_id)
    if course.status is not CourseStatus.ACTIVE or course.protocol is None:
        return Outcome(course)
    if discharged.dose_number in course.doses_given:
        return Outcome(course)
    given = mark_given(course, discharged)
    planned = given.planned_doses or discharged.dose_number
    if discharged.dose_number >= planned:
        return Outcome(given.model_copy(update={"status": CourseStatus.COMPLETED}))
    protocol = course.protocol
    ahead = [
        a
        for a in given.appointments
        if a.live
        and a.kind is AppointmentKind.DOSING
        and (a.dose_number or 0) > discharged.dose_number
    ]
    site = ctx.network.site(given.site_id)
    if ahead or site is None:
        return Outcome(given)
    plan = ctx.rules.plan(protocol)
    planner = Planner(given.patient_id, site, ctx.network, ctx.occupancy.copy(), ctx.rules)
    day = planner.local_day(discharged.occurred_at)
    targets = dose_targets(plan, site, day, planned, given.frequency_override)
    upcoming = targets[discharged.dose_number]
    gap = timedelta(days=upcoming.min_gap_days)
    target = type(upcoming)(
        upcoming.number,
        upcoming.phase,
        upcoming.frequency,
        day + gap,
        day + gap + timedelta(days=3),
        upcoming.min_gap_days,
    )
    dose = planner.dose(target, day, plan, day + timedelta(days=1))
    if dose is None:
        return Outcome(given)
    integration = planner.integration(dose)
    new = [dose, *([integration] if integration else [])]
    for appointment in new:
        given = given.with_appointment(appointment)
    return Outcome(given, tuple(booked(given, a, ctx.stamp) for a in new), holds(*new))


def decide_relapse(course: Course | None, relapse: RelapseSuspected, ctx: Context) -> Outcome:
    """DESIGN 'After treatment': worsening after response => RelapseSuspected => scheduling
    proposes a booster; effects can be transient (DESIGN journey step 6). The slot is the first
    free dosing slot within `booster_within_days`; a prescriber confirms it (a psychiatrist
    decides dosing, DESIGN 'Who uses it'). One open booster proposal at a time."""
    if course is None or course.protocol is None or course.decision is not Decision.APPROVED:
        return Outcome(course) if course else Outcome(_unknown(relapse))
    if any(p.kind is ProposalKind.BOOSTER and p.status == "open" for p in course.proposals):
        return Outcome(course)
    site = ctx.network.site(course.site_id)
    plan = ctx.rules.plan(course.protocol)
    if site is None or rems_blocks(plan, site):
        return Outcome(course)
    planner = Planner(course.patient_id, site, ctx.network, ctx.occupancy.copy(), ctx.rules)
    first = planner.local_day(max(relapse.occurred_at, ctx.stamp.now)) + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(ctx.rules.booster_within_days)]
    placement = planner.place(Need.of(AppointmentKind.BOOSTER, plan.dose_minutes), days)
    if placement is None:
        return Outcome(course)
    proposal = Proposal(
        proposal_id=entity_id("prp", course.patient_id, f"bst-{relapse.event_id.hex[:8]}"),
        kind=ProposalKind.BOOSTER,
        reason="relapse_suspected",
        placement=placement,
    )
    event = BoosterProposed(
        **ctx.stamp.envelope(course.patient_id, course.site_id),
        proposal_id=proposal.proposal_id,
        course_id=course.course_id,
        starts_at=placement.starts_at,
        ends_at=placement.ends_at,
        reason=f"relapse suspected: PHQ-9 {relapse.total} after best {relapse.best_total}",
    )
    return Outcome(course.with_proposal(proposal), (event,))


def _unknown(event: EventBase) -> Course:
    return Course(
        course_id=entity_id("crs", event.patient_id),
        patient_id=event.patient_id,
        site_id=event.site_id,
        decision=Decision.NEEDS_MORE_INFORMATION,
    )


def decide_integration_request(
    course: Course | None, request: IntegrationBookingRequested, ctx: Context
) -> Outcome:
    """Coaching asks for the integration session after a treatment day (DESIGN 'After
    treatment': booking within 72 h). Already booked for that dose: nothing to do. Otherwise
    the first free therapist slot before `book_by` (and not in the past)."""
    if course is None:
        raise CourseNotFound(request.patient_id)
    appointment_id = request.appointment_id or session_appointment(request.session_id)
    dose = course.appointment(appointment_id) if appointment_id else None
    number = dose.dose_number if dose else None
    if any(
        a.kind is AppointmentKind.INTEGRATION
        and a.live
        and a.for_dose == number
        and number is not None
        for a in course.appointments
    ):
        return Outcome(course)
    site = ctx.network.site(course.site_id)
    if site is None:
        return Outcome(course)
    planner = Planner(course.patient_id, site, ctx.network, ctx.occupancy.copy(), ctx.rules)
    anchor = (
        dose
        if dose is not None
        else Appointment(
            appointment_id=f"req-{request.task_id}"[:64],
            kind=AppointmentKind.DOSING,
            starts_at=ctx.stamp.now,
            ends_at=ctx.stamp.now,
            site_id=site.site_id,
        )
    )
    earliest = max(ctx.stamp.now, anchor.ends_at)
    shifted = anchor.model_copy(update={"ends_at": earliest})
    integration = planner.integration(shifted)
    if integration is None:
        return Outcome(course)
    updated = course.with_appointment(integration)
    return Outcome(updated, (booked(updated, integration, ctx.stamp),), holds(integration))
