"""Scheduling commands from clinicians: book, reschedule, cancel, no-show, decide a
proposal, extend or move a course. Pure like domain.py: they return an Outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from contracts.envelope import EventBase
from contracts.scheduling import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    CourseExtended,
    CourseTransferred,
    FrequencyChangeProposed,
    ProposalDecided,
)
from contracts.vocabulary import AppointmentKind, CoursePhase
from services.scheduling import errors
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    Course,
    CourseStatus,
    Proposal,
    ProposalKind,
    ProposalStatus,
    entity_id,
)
from services.scheduling.domain import Context, Outcome, booked, holds, rems_blocks
from services.scheduling.network import Site
from services.scheduling.planning import DoseTarget, Planner, dose_targets
from services.scheduling.rules import ProtocolPlan, SchedulingRules
from services.scheduling.slots import Need, Occupancy, Wanted, check, claims, first_fit

TREATMENT = (AppointmentKind.DOSING, AppointmentKind.BOOSTER)
MAX_PLANNED_DOSES = 52
"""contracts.scheduling.CourseExtended allows at most 52 planned doses."""


@dataclass(frozen=True)
class Book:
    kind: AppointmentKind
    starts_at: datetime
    wanted: Wanted
    dose_number: int | None = None
    for_dose: int | None = None


@dataclass(frozen=True)
class Extend:
    planned_doses: int
    reason: str
    extended_by: str


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


def decide_extend(course: Course | None, command: Extend, ctx: Context) -> Outcome:
    """A prescriber raises the course's planned doses (DESIGN safety invariant 6: only a
    prescriber extends or reopens a course; the route admits psychiatrists only). The plan
    only grows; a completed course becomes active again on the new terms. Nothing is booked:
    the new treatment days are booked like any other."""
    course = active(course)
    previous = course.planned_doses or 0
    if command.planned_doses <= previous:
        raise errors.ExtensionNotAbovePlan(
            f"{command.planned_doses} planned doses; the course already plans {previous}"
        )
    return extended(course, command, ctx)


def extended(course: Course, command: Extend, ctx: Context) -> Outcome:
    """The course on its new plan, active, and the CourseExtended that tells other services."""
    updated = course.model_copy(
        update={"planned_doses": command.planned_doses, "status": CourseStatus.ACTIVE}
    )
    event = CourseExtended(
        **ctx.stamp.envelope(course.patient_id, course.site_id),
        course_id=course.course_id,
        planned_doses=command.planned_doses,
        previous_planned_doses=course.planned_doses or 0,
        extended_by=command.extended_by,
        reason=command.reason,
    )
    return Outcome(updated, (event,))


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


def decide_cancel(course: Course | None, appointment_id: str, reason: str, ctx: Context) -> Outcome:
    """Cancel with a reason; a cancelled treatment day also cancels the integration session
    that follows it (DESIGN journey step 5: integration follows a treatment day)."""
    course, appointment = booked_appointment(course, appointment_id)
    gone = [appointment, *_integrations_of(course, appointment)]
    return _ended(course, gone, AppointmentStatus.CANCELLED, reason, ctx)


def _integrations_of(course: Course, dose: Appointment) -> list[Appointment]:
    if dose.kind not in TREATMENT or dose.dose_number is None:
        return []
    return [
        a
        for a in course.appointments
        if a.kind is AppointmentKind.INTEGRATION and a.live and a.for_dose == dose.dose_number
    ]


def _ended(
    course: Course, gone: list[Appointment], status: AppointmentStatus, reason: str, ctx: Context
) -> Outcome:
    events: list[EventBase] = []
    for appointment in gone:
        course = course.with_appointment(
            appointment.model_copy(update={"status": status, "reason": reason})
        )
        if status is AppointmentStatus.CANCELLED or appointment is not gone[0]:
            events.append(
                AppointmentCancelled(
                    **ctx.stamp.envelope(course.patient_id, appointment.site_id or course.site_id),
                    appointment_id=appointment.appointment_id,
                    reason=reason,
                    kind=appointment.kind,
                    dose_number=appointment.dose_number,
                )
            )
    return Outcome(course, tuple(events), release=tuple(a.appointment_id for a in gone))


def decide_no_show(course: Course | None, appointment_id: str, ctx: Context) -> Outcome:
    """The protocol's missed-dose rule. Induction: keep the schedule (the remaining doses stay
    where they are; Spravato PI gives no catch-up dosing). Maintenance: propose returning to
    the previous frequency (Spravato PI: if a maintenance session is missed and depression
    worsens, consider the previous dosing schedule; DESIGN 'Protocols'). The missed dose's
    integration session is cancelled; the no-show's reservations are released."""
    course, appointment = booked_appointment(course, appointment_id)
    if ctx.stamp.now < appointment.starts_at:
        raise errors.NoShowBeforeStart(appointment.starts_at.isoformat())
    ended = _ended(
        course,
        [appointment, *_integrations_of(course, appointment)],
        AppointmentStatus.NO_SHOW,
        "no_show",
        ctx,
    )
    no_show = AppointmentNoShow(
        **ctx.stamp.envelope(course.patient_id, appointment.site_id or course.site_id),
        appointment_id=appointment.appointment_id,
        kind=appointment.kind,
        dose_number=appointment.dose_number,
        course_phase=appointment.course_phase,
    )
    events: list[EventBase] = [no_show, *ended.events]
    updated = ended.course
    proposal = _frequency_proposal(updated, appointment, ctx)
    if proposal is not None:
        updated = updated.with_proposal(proposal)
        events.append(
            FrequencyChangeProposed(
                **ctx.stamp.envelope(course.patient_id, course.site_id),
                proposal_id=proposal.proposal_id,
                course_id=course.course_id,
                missed_appointment_id=appointment.appointment_id,
                current_frequency=proposal.current_frequency or "weekly",
                proposed_frequency=proposal.proposed_frequency or "weekly",
            )
        )
    return Outcome(updated, tuple(events), release=ended.release)


def _frequency_proposal(course: Course, missed: Appointment, ctx: Context) -> Proposal | None:
    if missed.course_phase is not CoursePhase.MAINTENANCE or missed.dose_number is None:
        return None
    plan, site = plan_of(course, ctx), ctx.network.site(course.site_id)
    if site is None:
        return None
    targets = dose_targets(
        plan,
        site,
        missed.starts_at.date(),
        max(course.planned_doses or 0, missed.dose_number),
        course.frequency_override,
    )
    current = targets[missed.dose_number - 1].frequency
    previous = plan.previous_frequency(current)
    if previous is None:
        return None
    return Proposal(
        proposal_id=entity_id("prp", course.patient_id, f"frq-{missed.dose_number}"),
        kind=ProposalKind.FREQUENCY,
        reason="missed_maintenance_dose",
        missed_appointment_id=missed.appointment_id,
        current_frequency=current,
        proposed_frequency=previous,
    )


def decide_proposal(
    course: Course | None, proposal_id: str, confirm: bool, decided_by: str, ctx: Context
) -> Outcome:
    """A prescriber confirms or declines. A confirmed booster is booked at its proposed slot
    (or the first free slot after it); a confirmed frequency change re-plans the future doses
    at the previous frequency."""
    course = active(course)
    proposal = course.proposal(proposal_id)
    if proposal is None:
        raise errors.ProposalNotFound(proposal_id)
    if proposal.status is not ProposalStatus.OPEN:
        raise errors.ProposalNotOpen(proposal.status.value)
    status = ProposalStatus.CONFIRMED if confirm else ProposalStatus.DECLINED
    decided = course.with_proposal(proposal.model_copy(update={"status": status}))
    event = ProposalDecided(
        **ctx.stamp.envelope(course.patient_id, course.site_id),
        proposal_id=proposal_id,
        course_id=course.course_id,
        confirmed=confirm,
        decided_by=decided_by,
    )
    if not confirm:
        return Outcome(decided, (event,))
    if proposal.kind is ProposalKind.BOOSTER:
        outcome = _book_booster(decided, proposal, decided_by, ctx)
    else:
        outcome = _refrequency(decided, proposal, ctx)
    return Outcome(outcome.course, (event, *outcome.events), outcome.take, outcome.release)


def _book_booster(course: Course, proposal: Proposal, decided_by: str, ctx: Context) -> Outcome:
    """The prescriber's confirmation is also their decision to dose past the plan: a booster
    beyond the planned doses (or after a completed course) extends the course in their name,
    and CourseExtended tells the other services the new plan (DESIGN safety invariant 6)."""
    site, plan = site_of(course, ctx), plan_of(course, ctx)
    if rems_blocks(plan, site):
        raise errors.SiteNotRemsCertified(site.site_id)
    assert proposal.placement is not None
    need = Need.of(AppointmentKind.BOOSTER, plan.dose_minutes)
    start = proposal.placement.starts_at
    planner = Planner(course.patient_id, site, ctx.network, ctx.occupancy.copy(), ctx.rules)
    first = planner.local_day(max(start, ctx.stamp.now))
    placement = None
    for day in [first + timedelta(days=n) for n in range(ctx.rules.booster_within_days)]:
        placement = first_fit(
            need,
            site,
            ctx.network,
            planner.occupancy,
            course.patient_id,
            day,
            not_before=max(start, ctx.stamp.now),
        )
        if placement is not None:
            break
    if placement is None:
        raise errors.SlotTaken("no free booster slot")
    number = next_dose_number(course)
    extension = Outcome(course)
    if course.status is CourseStatus.COMPLETED or number > (course.planned_doses or 0):
        if number > MAX_PLANNED_DOSES:
            raise errors.BeyondPlannedDoses(
                f"dose {number}; a course plans at most {MAX_PLANNED_DOSES} doses"
            )
        planned = max(number, course.planned_doses or 0)
        reason = f"booster confirmed: {proposal.reason}"
        extension = extended(course, Extend(planned, reason, decided_by), ctx)
    booking = decide_book(
        extension.course,
        Book(
            AppointmentKind.BOOSTER,
            placement.starts_at,
            Wanted(placement.chair_id, None, placement.provider_id),
            dose_number=number,
        ),
        ctx,
    )
    events = (*extension.events, *booking.events)
    return Outcome(booking.course, events, booking.take, booking.release)


def _refrequency(course: Course, proposal: Proposal, ctx: Context) -> Outcome:
    """Future booked doses move onto the proposed frequency, counted from the missed dose."""
    site, plan = site_of(course, ctx), plan_of(course, ctx)
    missed = course.appointment(proposal.missed_appointment_id or "")
    updated = course.model_copy(update={"frequency_override": proposal.proposed_frequency})
    if missed is None or missed.dose_number is None:
        return Outcome(updated)
    future = [
        a
        for a in course.appointments
        if a.live and a.kind is AppointmentKind.DOSING and (a.dose_number or 0) > missed.dose_number
    ]
    occupancy = ctx.occupancy.copy()
    for a in future:
        occupancy.remove(
            claims(a.placement, course.patient_id, ctx.network), a.starts_at, a.ends_at
        )
    planner = Planner(course.patient_id, site, ctx.network, occupancy, ctx.rules)
    phase = next(p for p in plan.phases if p.frequency == proposal.proposed_frequency)
    single = plan.model_copy(update={"phases": (phase.model_copy(update={"doses": None}),)})
    missed_day = planner.local_day(missed.starts_at)
    start = missed_day + timedelta(days=phase.min_gap_days)
    targets = dose_targets(single, site, start, len(future), None)
    events: list[EventBase] = []
    moved: list[Appointment] = []
    previous: date = missed_day
    for old, target in zip(future, targets, strict=False):
        renumbered = DoseTarget(
            old.dose_number or target.number,
            old.course_phase or target.phase,
            target.frequency,
            target.target,
            target.latest,
            target.min_gap_days,
        )
        dose = planner.dose(renumbered, previous, plan, start, suffix="x")
        if dose is None:
            break
        new = old.placed(dose.placement)
        previous = planner.local_day(new.starts_at)
        updated = updated.with_appointment(new)
        moved.append(new)
        events.append(rescheduled(updated, new, "frequency_change", ctx))
    return Outcome(updated, tuple(events), holds(*moved))


def decide_transfer(course: Course | None, to_site_id: str, reason: str, ctx: Context) -> Outcome:
    """Move the course to another site: every future booked appointment is re-placed there
    (same day if possible). Esketamine needs both sites REMS-certified (Spravato REMS: only
    certified settings dispense and administer; the patient's REMS enrolment names the site)."""
    course = active(course)
    origin, plan = site_of(course, ctx), plan_of(course, ctx)
    target_site = ctx.network.site(to_site_id)
    if target_site is None:
        raise errors.UnknownSite(to_site_id)
    if plan.rems_required and not (origin.rems_certified and target_site.rems_certified):
        raise errors.SiteNotRemsCertified(f"{origin.site_id} -> {to_site_id}")
    future = [a for a in course.appointments if a.live and a.starts_at > ctx.stamp.now]
    occupancy = ctx.occupancy.copy()
    for a in future:
        occupancy.remove(
            claims(a.placement, course.patient_id, ctx.network), a.starts_at, a.ends_at
        )
    planner = Planner(course.patient_id, target_site, ctx.network, occupancy, ctx.rules)
    updated = course.model_copy(update={"site_id": to_site_id})
    events: list[EventBase] = [
        CourseTransferred(
            **ctx.stamp.envelope(course.patient_id, to_site_id),
            course_id=course.course_id,
            from_site_id=origin.site_id,
            to_site_id=to_site_id,
            reason=reason,
        )
    ]
    moved: list[Appointment] = []
    for old in future:
        minutes = int((old.ends_at - old.starts_at).total_seconds() // 60)
        day = planner.local_day(old.starts_at)
        days = [day + timedelta(days=n) for n in range(ctx.rules.placement_search_days)]
        placement = planner.place(Need.of(old.kind, minutes), days, not_before=ctx.stamp.now)
        if placement is None:
            raise errors.SlotTaken(f"no room at {to_site_id} for {old.appointment_id}")
        new = old.placed(placement)
        updated = updated.with_appointment(new)
        moved.append(new)
        events.append(rescheduled(updated, new, f"moved to {to_site_id}", ctx))
    return Outcome(updated, tuple(events), holds(*moved))
