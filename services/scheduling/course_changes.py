"""Changes to a course as a whole, from prescribers and site staff: extend the plan, decide a
booster or frequency proposal, transfer the course to another site (DESIGN safety invariant 6:
course changes are prescribers' decisions). Pure like domain.py: they return an Outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from contracts.envelope import EventBase
from contracts.scheduling import CourseExtended, CourseTransferred, ProposalDecided
from contracts.vocabulary import AppointmentKind
from services.scheduling import errors
from services.scheduling.commands import (
    Book,
    active,
    decide_book,
    next_dose_number,
    plan_of,
    rescheduled,
    site_of,
)
from services.scheduling.course import (
    Appointment,
    Course,
    CourseStatus,
    Proposal,
    ProposalKind,
    ProposalStatus,
)
from services.scheduling.decision import Context, Outcome, holds
from services.scheduling.planning import DoseTarget, Planner, dose_targets
from services.scheduling.rems import rems_blocks
from services.scheduling.slots import Need, Wanted, claims, first_fit

MAX_PLANNED_DOSES = 52
"""contracts.scheduling.CourseExtended allows at most 52 planned doses."""


@dataclass(frozen=True)
class Extend:
    planned_doses: int
    reason: str
    extended_by: str


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
