"""Scheduling rules: a patient's course from eligibility to the last planned dose.

decide_* functions take the course (or None), the triggering event, the site, a Stamp and the
rules, and return the new course and the events to publish. Every booked time derives from the
triggering event's `occurred_at` on the site's wall clock, never from `now()`, so replaying the
same events books the same schedule.
"""

from __future__ import annotations

from datetime import date, timedelta

from contracts.envelope import Stamp
from contracts.intake import EligibilityDecided
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.runtime.network import Site
from services.scheduling.clinic_calendar import (
    add_business_days,
    local_date,
    local_slot,
    roll_to_business_day,
)
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    BlockedReason,
    Course,
    CourseNotFound,
    CourseStatus,
    active_plan,
    blocked,
    entity_id,
)
from services.scheduling.rules import Cadence, SchedulingRules


def blocked_reason(protocol: Protocol, site: Site) -> BlockedReason | None:
    """Spravato REMS: esketamine is dispensed and administered only in REMS-certified healthcare
    settings, so it is never booked elsewhere. Other protocols need no certification."""
    if protocol is Protocol.ESKETAMINE_TRD and not site.rems_certified:
        return BlockedReason.SITE_NOT_REMS_CERTIFIED
    return None


def phase_of(dose_number: int, cadence: Cadence) -> CoursePhase:
    """Esketamine: induction is weeks 1-4 twice weekly, i.e. doses 1-8 (Spravato PI, Dosage
    and Administration); IV: the acute series of 6 infusions (published IV protocols).
    Doses beyond are maintenance."""
    if dose_number <= cadence.induction_doses:
        return CoursePhase.INDUCTION
    return CoursePhase.MAINTENANCE


def next_dose_day(dose_given: int, given_on: date, cadence: Cadence) -> date:
    """Esketamine induction twice weekly, alternating 3 and 4 days (Spravato PI, Dosage and
    Administration); IV every 2-3 days as 2 business days (acute series over 2-3 weeks);
    maintenance at the configured interval (esketamine weeks 5-8 weekly). Weekends roll to
    Monday."""
    if dose_given + 1 > cadence.induction_doses:
        return roll_to_business_day(given_on + timedelta(days=cadence.maintenance_gap_days))
    gap = cadence.induction_gaps[(dose_given - 1) % len(cadence.induction_gaps)]
    if cadence.gaps_in_business_days:
        return add_business_days(given_on, gap)
    return roll_to_business_day(given_on + timedelta(days=gap))


def dosing_appointment(
    patient_id: str,
    dose_number: int,
    day: date,
    site: Site,
    cadence: Cadence,
    rules: SchedulingRules,
) -> Appointment:
    """A monitored dosing slot in the site's first chair, as long as the protocol's monitoring
    time (esketamine >= 2 h after dose per Spravato REMS; IV per DESIGN treatment day)."""
    starts_at, ends_at = local_slot(day, rules.dosing_hour, cadence.slot_minutes, site.zone)
    return Appointment(
        appointment_id=entity_id("apt", patient_id, f"dose-{dose_number}"),
        kind=AppointmentKind.DOSING,
        starts_at=starts_at,
        ends_at=ends_at,
        chair_id=site.chairs[0],
        dose_number=dose_number,
        course_phase=phase_of(dose_number, cadence),
    )


def booked(course: Course, appointment: Appointment, stamp: Stamp) -> AppointmentBooked:
    dosing = appointment.kind is AppointmentKind.DOSING
    return AppointmentBooked(
        **stamp.envelope(course.patient_id, course.site_id),
        appointment_id=appointment.appointment_id,
        course_id=course.course_id,
        kind=appointment.kind,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        chair_id=appointment.chair_id,
        dose_number=appointment.dose_number,
        protocol=course.protocol if dosing else None,
        course_phase=appointment.course_phase,
    )


def decide_eligibility(
    course: Course | None,
    decided: EligibilityDecided,
    site: Site | None,
    stamp: Stamp,
    rules: SchedulingRules,
) -> tuple[Course, list[CourseScheduled | AppointmentBooked]]:
    """An approval with a protocol schedules the course (DESIGN journey steps 2-4); a decline or
    a request for more information is only recorded. A course already booked is not rebooked
    by a later decision; a blocked or unscheduled one is evaluated afresh."""
    if course is not None and course.status in (CourseStatus.ACTIVE, CourseStatus.COMPLETED):
        return course.model_copy(update={"decision": decided.decision}), []
    recorded = Course(
        course_id=entity_id("crs", decided.patient_id),
        patient_id=decided.patient_id,
        site_id=decided.site_id,
        decision=decided.decision,
        protocol=decided.protocol,
    )
    if decided.decision is not Decision.APPROVED or decided.protocol is None:
        return recorded, []
    if site is None:
        return blocked(recorded, BlockedReason.UNKNOWN_SITE), []
    reason = blocked_reason(decided.protocol, site)
    if reason is not None:
        return blocked(recorded, reason), []
    return schedule_course(recorded, decided, decided.protocol, site, stamp, rules)


def schedule_course(
    recorded: Course,
    decided: EligibilityDecided,
    protocol: Protocol,
    site: Site,
    stamp: Stamp,
    rules: SchedulingRules,
) -> tuple[Course, list[CourseScheduled | AppointmentBooked]]:
    """Preparation session the next business day at the preparation hour (DESIGN journey step
    3), then dose 1 at the dosing hour on the configured business day after it."""
    cadence = rules.cadence(protocol)
    prep_day = add_business_days(local_date(decided.occurred_at, site.zone), 1)
    first_day = add_business_days(prep_day, rules.first_dose_business_days_after_preparation)
    prep_start, prep_end = local_slot(
        prep_day, rules.preparation_hour, rules.preparation_minutes, site.zone
    )
    preparation = Appointment(
        appointment_id=entity_id("apt", recorded.patient_id, "prep"),
        kind=AppointmentKind.PREPARATION,
        starts_at=prep_start,
        ends_at=prep_end,
    )
    first = dosing_appointment(recorded.patient_id, 1, first_day, site, cadence, rules)
    planned = decided.planned_doses or cadence.default_doses
    course = recorded.model_copy(
        update={
            "status": CourseStatus.ACTIVE,
            "planned_doses": planned,
            "appointments": (preparation, first),
        }
    )
    scheduled = CourseScheduled(
        **stamp.envelope(course.patient_id, course.site_id),
        course_id=course.course_id,
        protocol=protocol,
        planned_doses=planned,
    )
    return course, [scheduled, booked(course, preparation, stamp), booked(course, first, stamp)]


def mark_given(course: Course, discharged: SessionDischarged) -> Course:
    """The discharged dose counts as given and its appointment as completed."""

    def attended(a: Appointment) -> bool:
        return a.appointment_id == discharged.appointment_id or (
            a.kind is AppointmentKind.DOSING and a.dose_number == discharged.dose_number
        )

    appointments = tuple(
        a.model_copy(update={"status": AppointmentStatus.COMPLETED}) if attended(a) else a
        for a in course.appointments
    )
    doses = tuple(sorted({*course.doses_given, discharged.dose_number}))
    return course.model_copy(update={"appointments": appointments, "doses_given": doses})


def decide_discharge(
    course: Course | None,
    discharged: SessionDischarged,
    site: Site | None,
    stamp: Stamp,
    rules: SchedulingRules,
) -> tuple[Course, list[AppointmentBooked]]:
    """A discharge marks its dose given; the next dose is booked until the planned number is
    reached, and the last planned dose completes the course (DESIGN journey step 4).

    Raises CourseNotFound when no course exists yet (cross-topic reordering during a replay):
    the consumer retries and then dead-letters it for re-drive instead of losing the dose.
    """
    if course is None:
        raise CourseNotFound(discharged.patient_id)
    plan = active_plan(course)
    if plan is None or discharged.dose_number in course.doses_given:
        return course, []
    protocol, planned_doses = plan
    given = mark_given(course, discharged)
    if discharged.dose_number >= planned_doses:
        return given.model_copy(update={"status": CourseStatus.COMPLETED}), []
    upcoming = discharged.dose_number + 1
    if any(a.dose_number == upcoming for a in given.appointments):
        return given, []
    if site is None:
        return blocked(given, BlockedReason.UNKNOWN_SITE), []
    cadence = rules.cadence(protocol)
    day = next_dose_day(
        discharged.dose_number, local_date(discharged.occurred_at, site.zone), cadence
    )
    appointment = dosing_appointment(course.patient_id, upcoming, day, site, cadence, rules)
    updated = given.model_copy(update={"appointments": (*given.appointments, appointment)})
    return updated, [booked(updated, appointment, stamp)]
