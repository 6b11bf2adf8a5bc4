"""Scheduling commands that end an appointment before it happens: a cancellation, a no-show
(DESIGN: no-show handling). Pure like domain.py: they return an Outcome. Booking and moving
single appointments are in `commands.py`; changes to the course as a whole in
`course_changes.py`."""

from __future__ import annotations

from contracts.envelope import EventBase
from contracts.scheduling import (
    AppointmentCancelled,
    AppointmentNoShow,
    FrequencyChangeProposed,
)
from contracts.vocabulary import AppointmentKind, CoursePhase
from services.scheduling import errors
from services.scheduling.commands import TREATMENT, booked_appointment, plan_of
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    Course,
    Proposal,
    ProposalKind,
    entity_id,
)
from services.scheduling.decision import Context, Outcome
from services.scheduling.planning import dose_targets


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
