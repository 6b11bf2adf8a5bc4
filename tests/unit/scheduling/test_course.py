"""Course scheduling rules: pure domain, no servers (times fixed, ids deterministic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import UUID, uuid4

import pytest

from contracts.envelope import EventBase, Stamp
from contracts.intake import EligibilityDecided
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.runtime.network import Site
from services.scheduling.course import (
    AppointmentStatus,
    BlockedReason,
    Course,
    CourseNotFound,
    CourseStatus,
    entity_id,
)
from services.scheduling.domain import decide_discharge, decide_eligibility
from services.scheduling.rules import SchedulingRules

NORTH = Site(
    site_id="site-north",
    name="North",
    time_zone="America/New_York",
    rems_certified=True,
    chairs=("north-chair-1", "north-chair-2"),
)
SOUTH = Site(
    site_id="site-south",
    name="South",
    time_zone="America/Chicago",
    rems_certified=False,
    chairs=("south-chair-1",),
)
SITES = {s.site_id: s for s in (NORTH, SOUTH)}
RULES = SchedulingRules()


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def stamp_for(cause: EventBase) -> Stamp:
    ids = count(1)
    return Stamp(
        now=cause.occurred_at + timedelta(seconds=1),
        producer="scheduling",
        correlation_id=cause.correlation_id,
        new_id=lambda: UUID(int=next(ids)),
        causation_id=cause.event_id,
    )


def decided(
    on: datetime,
    protocol: Protocol | None = Protocol.ESKETAMINE_TRD,
    site: Site = NORTH,
    decision: Decision = Decision.APPROVED,
    planned_doses: int | None = None,
) -> EligibilityDecided:
    return EligibilityDecided(
        event_id=uuid4(),
        occurred_at=on,
        patient_id="pat-1",
        site_id=site.site_id,
        correlation_id=uuid4(),
        producer="intake",
        decision=decision,
        decided_by="dr-1",
        protocol=protocol,
        planned_doses=planned_doses,
    )


def decide(
    event: EligibilityDecided, course: Course | None = None, site: Site | None = None
) -> tuple[Course, list[CourseScheduled | AppointmentBooked]]:
    chosen = site if site is not None else SITES.get(event.site_id)
    return decide_eligibility(course, event, chosen, stamp_for(event), RULES)


def discharged(course: Course, dose_number: int, at: datetime | None = None) -> SessionDischarged:
    slot = next(a for a in course.appointments if a.dose_number == dose_number)
    assert course.protocol is not None
    return SessionDischarged(
        event_id=uuid4(),
        occurred_at=at or slot.ends_at,
        patient_id=course.patient_id,
        site_id=course.site_id,
        correlation_id=uuid4(),
        producer="session",
        session_id=f"ses-{dose_number}",
        appointment_id=slot.appointment_id,
        protocol=course.protocol,
        dose_number=dose_number,
        course_phase=slot.course_phase or CoursePhase.INDUCTION,
        monitoring_minutes=125,
    )


def discharge(course: Course, dose_number: int) -> tuple[Course, list[AppointmentBooked]]:
    event = discharged(course, dose_number)
    return decide_discharge(course, event, SITES[course.site_id], stamp_for(event), RULES)


def dose_through(course: Course, last_dose: int) -> Course:
    for dose_number in range(1, last_dose + 1):
        course, _ = discharge(course, dose_number)
    return course


def dosing_starts(course: Course) -> list[datetime]:
    return [a.starts_at for a in course.appointments if a.kind is AppointmentKind.DOSING]


# --- approval: course, preparation and first dose ----------------------------------------


def test_esketamine_approval_schedules_course_preparation_and_first_dose() -> None:
    course, events = decide(decided(utc(3, 3, 15)))  # Tue 10:00 EST
    scheduled, prep, first = events
    assert isinstance(scheduled, CourseScheduled)
    assert (scheduled.course_id, scheduled.protocol, scheduled.planned_doses) == (
        "crs-pat-1",
        Protocol.ESKETAMINE_TRD,
        8,
    )
    assert isinstance(prep, AppointmentBooked)
    assert (prep.kind, prep.chair_id, prep.dose_number, prep.protocol) == (
        AppointmentKind.PREPARATION,
        None,
        None,
        None,
    )
    assert (prep.starts_at, prep.ends_at) == (utc(3, 4, 15), utc(3, 4, 16))  # Wed 10:00 EST
    assert isinstance(first, AppointmentBooked)
    assert (first.kind, first.dose_number, first.protocol, first.course_phase) == (
        AppointmentKind.DOSING,
        1,
        Protocol.ESKETAMINE_TRD,
        CoursePhase.INDUCTION,
    )
    assert (first.starts_at, first.ends_at) == (utc(3, 6, 14), utc(3, 6, 16, 30))  # Fri 09:00
    assert first.chair_id == "north-chair-1"
    assert first.course_id == prep.course_id == "crs-pat-1"
    assert course.status is CourseStatus.ACTIVE
    assert [a.appointment_id for a in course.appointments] == ["apt-pat-1-prep", "apt-pat-1-dose-1"]


def test_local_times_are_emitted_in_utc_across_the_spring_dst_change() -> None:
    _, (_, prep, first) = decide(decided(utc(3, 6, 16)))  # Fri 11:00 EST; DST starts Sun 3/8
    assert isinstance(prep, AppointmentBooked)
    assert isinstance(first, AppointmentBooked)
    assert prep.starts_at == utc(3, 9, 14)  # Mon 10:00 EDT (UTC-4), not 15:00
    assert (first.starts_at, first.ends_at) == (utc(3, 11, 13), utc(3, 11, 15, 30))  # Wed 09:00
    assert first.starts_at.tzinfo is UTC


def test_decision_late_in_the_local_evening_counts_from_the_local_date() -> None:
    _, (_, prep, _) = decide(decided(utc(3, 4, 3, 30)))  # still Tue 22:30 in New York
    assert isinstance(prep, AppointmentBooked)
    assert prep.starts_at == utc(3, 4, 15)  # Wed, not Thu


def test_first_dose_after_a_thursday_preparation_skips_the_weekend() -> None:
    course, _ = decide(decided(utc(3, 4, 15)))  # Wed -> preparation Thu 3/5
    assert course.appointments[0].starts_at == utc(3, 5, 15)
    assert dosing_starts(course) == [utc(3, 9, 13)]  # Mon 09:00 EDT


def test_weekend_decision_books_preparation_on_monday() -> None:
    course, _ = decide(decided(utc(3, 7, 15)))  # Saturday
    assert course.appointments[0].starts_at == utc(3, 9, 14)


@pytest.mark.parametrize(
    ("protocol", "planned", "slot_minutes"),
    [
        (Protocol.ESKETAMINE_TRD, 8, 150),
        (Protocol.IV_KETAMINE_SERIES, 6, 120),
        (Protocol.IM_KETAMINE, 4, 120),
        (Protocol.SUBLINGUAL_LOZENGE, 4, 120),
        (Protocol.LOW_DOSE_KAP, 4, 120),
    ],
)
def test_planned_doses_and_slot_length_default_per_protocol(
    protocol: Protocol, planned: int, slot_minutes: int
) -> None:
    course, _ = decide(decided(utc(3, 3, 15), protocol=protocol))
    first = course.appointments[1]
    assert course.planned_doses == planned
    assert first.ends_at - first.starts_at == timedelta(minutes=slot_minutes)


def test_prescriber_planned_doses_override_the_protocol_default() -> None:
    course, (scheduled, *_) = decide(decided(utc(3, 3, 15), planned_doses=12))
    assert isinstance(scheduled, CourseScheduled)
    assert course.planned_doses == scheduled.planned_doses == 12


def test_reaction_events_carry_the_trigger_as_cause() -> None:
    trigger = decided(utc(3, 3, 15))
    _, events = decide(trigger)
    assert {(e.correlation_id, e.causation_id) for e in events} == {
        (trigger.correlation_id, trigger.event_id)
    }
    assert len({e.event_id for e in events}) == 3


# --- REMS and site rules -------------------------------------------------------------------


def test_esketamine_at_a_site_without_rems_certification_is_blocked_without_booking() -> None:
    course, events = decide(decided(utc(3, 3, 15), site=SOUTH))
    assert events == []
    assert course.status is CourseStatus.BLOCKED
    assert course.blocked_reason is BlockedReason.SITE_NOT_REMS_CERTIFIED
    assert course.appointments == ()


def test_iv_ketamine_at_a_site_without_rems_certification_is_scheduled() -> None:
    course, events = decide(
        decided(utc(4, 7, 15), protocol=Protocol.IV_KETAMINE_SERIES, site=SOUTH)
    )
    assert len(events) == 3
    assert course.status is CourseStatus.ACTIVE
    first = course.appointments[1]
    assert (first.starts_at, first.chair_id) == (utc(4, 10, 14), "south-chair-1")  # 09:00 CDT


def test_blocked_course_is_scheduled_when_the_prescriber_switches_to_iv() -> None:
    blocked, _ = decide(decided(utc(3, 3, 15), site=SOUTH))
    course, events = decide(decided(utc(3, 4, 15), Protocol.IV_KETAMINE_SERIES, SOUTH), blocked)
    assert len(events) == 3
    assert (course.status, course.blocked_reason) == (CourseStatus.ACTIVE, None)


def test_site_missing_from_the_network_blocks_the_course() -> None:
    event = decided(utc(3, 3, 15))
    course, events = decide_eligibility(None, event, None, stamp_for(event), RULES)
    assert events == []
    assert course.blocked_reason is BlockedReason.UNKNOWN_SITE


# --- decisions other than a first approval --------------------------------------------------


@pytest.mark.parametrize("decision", [Decision.DECLINED, Decision.NEEDS_MORE_INFORMATION])
def test_decline_or_request_for_information_is_recorded_without_events(
    decision: Decision,
) -> None:
    course, events = decide(decided(utc(3, 3, 15), protocol=None, decision=decision))
    assert events == []
    assert (course.decision, course.status) == (decision, CourseStatus.NOT_SCHEDULED)


def test_approval_after_a_request_for_information_schedules_the_course() -> None:
    pending, _ = decide(decided(utc(3, 3, 15), None, decision=Decision.NEEDS_MORE_INFORMATION))
    course, events = decide(decided(utc(3, 5, 15)), pending)
    assert len(events) == 3
    assert course.status is CourseStatus.ACTIVE


def test_repeated_approval_does_not_rebook_an_active_course() -> None:
    course, _ = decide(decided(utc(3, 3, 15)))
    again, events = decide(decided(utc(3, 10, 15)), course)
    assert events == []
    assert again.appointments == course.appointments


# --- discharge: next dose, phase, completion ------------------------------------------------


def test_discharge_marks_the_dose_given_and_its_appointment_completed() -> None:
    course, _ = decide(decided(utc(4, 1, 15)))
    after, _ = discharge(course, 1)
    assert after.doses_given == (1,)
    assert after.appointments[1].status is AppointmentStatus.COMPLETED
    assert after.appointments[0].status is AppointmentStatus.BOOKED


def test_esketamine_induction_alternates_three_and_four_days() -> None:
    course, _ = decide(decided(utc(4, 1, 15)))  # Wed -> prep Thu 4/2 -> dose 1 Mon 4/6
    after_one, (second,) = discharge(course, 1)
    assert (second.dose_number, second.starts_at) == (2, utc(4, 9, 13))  # Thu 09:00 EDT
    assert second.course_phase is CoursePhase.INDUCTION
    _, (third,) = discharge(after_one, 2)
    assert third.starts_at == utc(4, 13, 13)  # Mon


def test_esketamine_next_dose_falling_on_saturday_moves_to_monday() -> None:
    course, _ = decide(decided(utc(4, 3, 15)))  # Fri -> prep Mon 4/6 -> dose 1 Wed 4/8
    _, (second,) = discharge(course, 1)
    assert second.starts_at == utc(4, 13, 13)


def test_full_esketamine_induction_is_eight_twice_weekly_doses_then_complete() -> None:
    course, _ = decide(decided(utc(4, 1, 15)))
    done = dose_through(course, 8)
    assert [d.day for d in dosing_starts(done)] == [6, 9, 13, 16, 20, 23, 27, 30]
    assert done.status is CourseStatus.COMPLETED
    assert len(done.doses_given) == 8


def test_last_planned_dose_completes_the_course_without_booking() -> None:
    course = dose_through(decide(decided(utc(4, 1, 15)))[0], 7)
    event = discharged(course, 8)
    done, events = decide_discharge(course, event, NORTH, stamp_for(event), RULES)
    assert events == []
    assert done.status is CourseStatus.COMPLETED


def test_iv_series_books_the_next_infusion_two_business_days_later() -> None:
    course, _ = decide(decided(utc(4, 7, 15), Protocol.IV_KETAMINE_SERIES, SOUTH))  # dose 1 Fri
    after_one, (second,) = discharge(course, 1)
    assert second.starts_at == utc(4, 14, 14)  # Tue 09:00 CDT
    _, (third,) = discharge(after_one, 2)
    assert third.starts_at == utc(4, 16, 14)  # Thu


def test_iv_series_completes_after_six_infusions() -> None:
    course, _ = decide(decided(utc(4, 7, 15), Protocol.IV_KETAMINE_SERIES, SOUTH))
    done = dose_through(course, 6)
    assert done.status is CourseStatus.COMPLETED
    assert all(a.status is AppointmentStatus.COMPLETED for a in done.appointments[1:])
    assert [a.course_phase for a in done.appointments[1:]] == [CoursePhase.INDUCTION] * 6


def test_esketamine_doses_beyond_eight_are_weekly_maintenance() -> None:
    course = dose_through(decide(decided(utc(4, 1, 15), planned_doses=10))[0], 7)
    _, (ninth,) = discharge(course, 8)  # dose 8 on Thu 4/30
    assert (ninth.dose_number, ninth.course_phase) == (9, CoursePhase.MAINTENANCE)
    assert ninth.starts_at == utc(5, 7, 13)  # Thu a week later


def test_second_discharge_for_the_same_dose_changes_nothing() -> None:
    course, _ = decide(decided(utc(4, 1, 15)))
    after, _ = discharge(course, 1)
    again, events = discharge(after, 1)
    assert (again, events) == (after, [])


def test_discharge_for_a_blocked_course_books_nothing() -> None:
    active, _ = decide(decided(utc(3, 3, 15)))
    blocked, _ = decide(decided(utc(3, 3, 15), site=SOUTH))
    event = discharged(active, 1)
    after, events = decide_discharge(blocked, event, SOUTH, stamp_for(event), RULES)
    assert (after, events) == (blocked, [])


def test_discharge_before_any_course_is_refused_for_retry() -> None:
    course, _ = decide(decided(utc(4, 1, 15)))
    event = discharged(course, 1)
    with pytest.raises(CourseNotFound):
        decide_discharge(None, event, NORTH, stamp_for(event), RULES)


# --- storage and ids ----------------------------------------------------------------------


def test_course_survives_a_json_storage_round_trip() -> None:
    course = dose_through(decide(decided(utc(3, 6, 16)))[0], 3)
    assert Course.model_validate(course.model_dump(mode="json")) == course


def test_overlong_patient_ids_still_give_contract_valid_ids() -> None:
    long_id = "p" * 64
    assert len(entity_id("apt", long_id, "dose-12")) <= 64
    assert entity_id("crs", long_id) == entity_id("crs", long_id)
