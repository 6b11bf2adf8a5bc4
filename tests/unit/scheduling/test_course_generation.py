"""Course generation: protocol cadence on fixed weekdays, site hours, closed days, DST, REMS."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from contracts.scheduling import CourseBlocked
from contracts.vocabulary import AppointmentKind, CoursePhase, Protocol
from services.scheduling.course import CourseStatus
from services.scheduling.network import Weekday
from tests.unit.scheduling.builders import approve, event_types, local_days, network, site, utc

NY = ZoneInfo("America/New_York")


def test_esketamine_approval_books_preparation_eight_doses_and_an_integration_after_each() -> None:
    outcome = approve(network(), utc(2026, 3, 4, 15))  # a Wednesday
    course = outcome.course
    kinds = Counter(a.kind for a in course.appointments)
    assert course.status is CourseStatus.ACTIVE
    assert kinds == {
        AppointmentKind.PREPARATION: 1,
        AppointmentKind.DOSING: 8,
        AppointmentKind.INTEGRATION: 8,
    }
    assert event_types(outcome.events) == ["CourseScheduled"] + ["AppointmentBooked"] * 17
    preparation = course.appointments[0]
    doses = [a for a in course.appointments if a.kind is AppointmentKind.DOSING]
    assert preparation.kind is AppointmentKind.PREPARATION
    assert preparation.ends_at <= doses[0].starts_at
    assert [d.dose_number for d in doses] == list(range(1, 9))
    assert {d.course_phase for d in doses} == {CoursePhase.INDUCTION}
    assert len(outcome.take) == 17, "every booked appointment is reserved"


def test_twice_weekly_induction_keeps_a_fixed_weekday_pair_and_two_doses_every_week() -> None:
    course = approve(network(), utc(2026, 3, 4, 15)).course
    days = local_days(course, "dosing")
    assert {Weekday.of(d) for d in days} in ({Weekday.MON, Weekday.THU}, {Weekday.TUE, Weekday.FRI})
    weeks = Counter((d - days[0]).days // 7 for d in days)
    assert weeks == {0: 2, 1: 2, 2: 2, 3: 2}
    assert all((b - a).days >= 2 for a, b in itertools.pairwise(days))


def test_no_dose_or_session_lands_on_a_weekend_or_outside_site_hours() -> None:
    course = approve(network(), utc(2026, 3, 6, 20)).course  # Friday evening
    for a in course.appointments:
        start, end = a.starts_at.astimezone(NY), a.ends_at.astimezone(NY)
        assert start.weekday() < 5
        assert start.hour >= 8
        assert (end.hour, end.minute) <= (18, 0)


def test_esketamine_slots_hold_the_two_hour_rems_monitoring() -> None:
    course = approve(network(), utc(2026, 3, 4, 15)).course
    for dose in (a for a in course.appointments if a.kind is AppointmentKind.DOSING):
        assert dose.ends_at - dose.starts_at >= timedelta(minutes=150)


def test_integration_follows_each_dose_within_72_hours() -> None:
    course = approve(network(), utc(2026, 3, 4, 15)).course
    doses = {a.dose_number: a for a in course.appointments if a.kind is AppointmentKind.DOSING}
    for session in (a for a in course.appointments if a.kind is AppointmentKind.INTEGRATION):
        dose = doses[session.for_dose]
        assert dose.ends_at < session.starts_at <= dose.ends_at + timedelta(hours=72)


def test_a_closed_day_moves_the_dose_within_its_week_and_twice_weekly_still_holds() -> None:
    plain = approve(network(), utc(2026, 3, 4, 15)).course
    first_days = local_days(plain, "dosing")
    holiday = first_days[2]
    closed = network(site(closed=(holiday,)))
    days = local_days(approve(closed, utc(2026, 3, 4, 15)).course, "dosing")
    assert holiday not in days
    assert Counter((d - days[0]).days // 7 for d in days) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert all((b - a).days >= 2 for a, b in itertools.pairwise(days))


def test_dose_times_keep_local_wall_clock_across_the_spring_dst_change() -> None:
    course = approve(network(), utc(2026, 3, 2, 15)).course  # DST starts Sun 8 March 2026
    doses = [a for a in course.appointments if a.kind is AppointmentKind.DOSING]
    before = [d for d in doses if d.starts_at.astimezone(NY).date() < date(2026, 3, 8)]
    after = [d for d in doses if d.starts_at.astimezone(NY).date() > date(2026, 3, 8)]
    assert before
    assert after
    assert {d.starts_at.astimezone(NY).hour for d in doses} == {8}
    assert {d.starts_at.hour for d in before} == {13}, "08:00 EST is 13:00 UTC"
    assert {d.starts_at.hour for d in after} == {12}, "08:00 EDT is 12:00 UTC"
    assert {d.ends_at - d.starts_at for d in doses} == {timedelta(minutes=150)}


def test_iv_series_is_six_infusions_on_mon_wed_fri_within_three_weeks() -> None:
    net = network(site(rems=False))
    course = approve(net, utc(2026, 3, 4, 15), protocol=Protocol.IV_KETAMINE_SERIES).course
    days = local_days(course, "dosing")
    assert len(days) == 6
    assert {Weekday.of(d) for d in days} <= {Weekday.MON, Weekday.WED, Weekday.FRI}
    assert (days[-1] - days[0]).days <= 21
    assert all((b - a).days >= 2 for a, b in itertools.pairwise(days))


def test_a_longer_esketamine_plan_goes_weekly_in_weeks_five_to_eight_then_every_two_weeks() -> None:
    course = approve(network(), utc(2026, 3, 4, 15), planned=14).course
    doses = [a for a in course.appointments if a.kind is AppointmentKind.DOSING]
    days = [d.starts_at.astimezone(NY).date() for d in doses]
    gaps = [(b - a).days for a, b in itertools.pairwise(days[7:])]
    assert gaps[:4] == [7, 7, 7, 7], "weeks 5-8 weekly"
    assert gaps[4:] == [14, 14], "from week 9 every two weeks"
    assert doses[8].course_phase is CoursePhase.MAINTENANCE


def test_esketamine_at_a_site_without_rems_certification_is_blocked_with_an_event() -> None:
    net = network(site("site-tx", "America/Chicago", rems=False))
    outcome = approve(net, utc(2026, 3, 4, 15), site_id="site-tx")
    assert outcome.course.status is CourseStatus.BLOCKED
    assert outcome.course.blocked_reason == "site_not_rems_certified"
    assert outcome.course.appointments == ()
    (blocked,) = outcome.events
    assert isinstance(blocked, CourseBlocked)
    assert blocked.reason == "site_not_rems_certified"


def test_an_unknown_site_blocks_the_course() -> None:
    outcome = approve(network(), utc(2026, 3, 4, 15), site_id="site-nowhere")
    assert outcome.course.blocked_reason == "unknown_site"


def test_a_full_site_moves_doses_to_free_chairs_or_days() -> None:
    from services.scheduling.slots import Occupancy, claims

    net = network(site(chairs=1))
    first = approve(net, utc(2026, 3, 4, 15), patient_id="pat-a")
    occupancy = Occupancy()
    for hold in first.take:
        occupancy.add(
            claims(hold.placement, "pat-a", net), hold.placement.starts_at, hold.placement.ends_at
        )
    from services.scheduling.domain import decide_eligibility
    from tests.unit.scheduling.builders import approval, context

    second = decide_eligibility(
        None, approval("pat-b", utc(2026, 3, 4, 15)), context(net, utc(2026, 3, 4, 15), occupancy)
    ).course
    mine = {(a.chair_id, a.starts_at) for a in first.course.appointments if a.chair_id}
    theirs = {(a.chair_id, a.starts_at) for a in second.appointments if a.chair_id}
    assert len(theirs) == 8
    assert not mine & theirs


def test_a_day_outside_the_cover_counts_as_free_and_is_reported() -> None:
    from services.scheduling.slots import Claim, Occupancy

    chair = (Claim("chair:c1", 1),)
    known_day, other_day = utc(2026, 3, 4, 15), utc(2026, 3, 9, 15)
    occupancy = Occupancy(covers=frozenset({known_day.date()}))
    occupancy.add(chair, known_day, known_day + timedelta(minutes=30))
    assert not occupancy.free(chair, known_day, known_day + timedelta(minutes=15))
    assert occupancy.unknown == set()
    copy = occupancy.copy()
    assert copy.free(chair, other_day, other_day + timedelta(minutes=15))
    assert occupancy.unknown == {other_day.date()}, "copies report to the same set"


def test_merging_what_was_read_later_makes_a_taken_day_known() -> None:
    from services.scheduling.slots import Claim, Occupancy

    chair = (Claim("chair:c1", 1),)
    day = utc(2026, 3, 9, 15)
    later = Occupancy(covers=frozenset({day.date()}))
    later.add(chair, day, day + timedelta(minutes=15))
    merged = Occupancy(covers=frozenset()).merged(later)
    assert not merged.free(chair, day, day + timedelta(minutes=15))
    assert merged.unknown == set()
