"""Coach capacity, reassignment and the overdue/escalation rules, without servers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from contracts.coaching import CoachAssigned, FollowUpTaskCreated, FollowUpTaskOverdue
from contracts.envelope import stable_id
from contracts.vocabulary import TaskKind
from services.coaching.domain import (
    CoachingRecord,
    Outcome,
    TaskOfAnotherCoachError,
    decide_discharge,
    decide_reassignment,
)
from services.coaching.escalation import decide_sweep, next_sweep_at
from services.coaching.outcomes import decide_completion
from services.coaching.roster import (
    Availability,
    CoachAvailability,
    CoachPool,
    NoCoachAtSiteError,
    load_roster,
)
from services.coaching.rules import CoachingRules
from tests.unit.coaching.builders import DISCHARGED_AT, discharged, of, stamp

RULES = CoachingRules()
POOL = CoachPool({"coach-ana": 0, "coach-ben": 0}, site_lead="lead-north")
CHECK_IN_DUE = DISCHARGED_AT + timedelta(hours=24)
OK = Outcome(check_in="ok")
GRACE = timedelta(hours=RULES.escalation_grace_hours)


def planned() -> CoachingRecord:
    return decide_discharge(None, discharged(), POOL, RULES, stamp(DISCHARGED_AT))[0]


def check_in_id(record: CoachingRecord) -> str:
    return next(k for k, t in record.tasks.items() if t.kind is TaskKind.COACH_CHECK_IN)


def sweep(
    record: CoachingRecord, now: datetime
) -> tuple[CoachingRecord, list[FollowUpTaskOverdue]]:
    updated, events = decide_sweep(record, now, RULES, "lead-north", stamp(now))
    return updated, of(events, FollowUpTaskOverdue)


# --- capacity and assignment ---------------------------------------------------------------


def test_a_coach_at_capacity_is_passed_over_for_a_less_loaded_one_under_capacity() -> None:
    pool = CoachPool({"coach-ana": 2, "coach-ben": 3}, capacity={"coach-ana": 2})
    assert pool.choose() == ("coach-ben", False)


def test_when_every_coach_is_full_the_least_over_capacity_takes_the_patient_flagged() -> None:
    pool = CoachPool({"coach-ana": 5, "coach-ben": 4}, capacity={"coach-ana": 5, "coach-ben": 3})
    assert pool.choose() == ("coach-ana", True)
    _, events = decide_discharge(None, discharged(), pool, RULES, stamp(DISCHARGED_AT))
    assert [(e.coach_id, e.over_capacity) for e in of(events, CoachAssigned)] == [
        ("coach-ana", True)
    ]


def test_with_no_available_coach_the_site_lead_covers_and_without_one_it_is_refused() -> None:
    assert CoachPool({}, site_lead="lead-north").choose() == ("lead-north", False)
    with pytest.raises(NoCoachAtSiteError):
        CoachPool({}).choose()


def test_the_roster_file_sets_capacities_with_a_default_for_unlisted_coaches() -> None:
    roster = load_roster()
    assert roster.capacity("coach-cy") == 45
    assert roster.capacity("coach-new") == roster.default_capacity == 60


def test_an_absence_with_an_end_ends_by_itself_a_departure_does_not() -> None:
    now = DISCHARGED_AT
    absent = CoachAvailability(
        site_id="s", coach_id="c", status=Availability.ABSENT, until=now + timedelta(days=1)
    )
    assert absent.unavailable_at(now) is Availability.ABSENT
    assert absent.unavailable_at(now + timedelta(days=1)) is None
    left = CoachAvailability(site_id="s", coach_id="c", status=Availability.LEFT)
    assert left.unavailable_at(now + timedelta(days=999)) is Availability.LEFT


# --- reassignment --------------------------------------------------------------------------


def test_a_departed_coach_hands_the_patient_and_every_open_task_to_the_next_coach() -> None:
    record = planned()
    assert record.coach_id == "coach-ana"
    pool = CoachPool({"coach-ben": 3}, unavailable={"coach-ana": Availability.LEFT})
    moved, events = decide_reassignment(record, "coach-ana", pool, stamp(DISCHARGED_AT))
    (assigned,) = of(events, CoachAssigned)
    assert (assigned.coach_id, assigned.previous_coach_id, assigned.reason) == (
        "coach-ben",
        "coach-ana",
        "coach_left",
    )
    assert set(assigned.task_ids) == set(record.open_tasks())
    assert len(assigned.task_ids) == 4
    assert moved.coach_id == "coach-ben"
    assert {t.coach_id for t in moved.open_tasks().values()} == {"coach-ben"}
    again, none = decide_reassignment(moved, "coach-ana", pool, stamp(DISCHARGED_AT))
    assert none == []
    assert again == moved


def test_completed_tasks_stay_with_the_coach_who_did_them() -> None:
    record = planned()
    task_id = check_in_id(record)
    record = decide_completion(record, task_id, "coach-ana", OK, None, stamp(DISCHARGED_AT), RULES)[
        0
    ]
    pool = CoachPool({"coach-ben": 0}, unavailable={"coach-ana": Availability.ABSENT})
    moved, events = decide_reassignment(record, "coach-ana", pool, stamp(DISCHARGED_AT))
    assert task_id not in of(events, CoachAssigned)[0].task_ids
    assert moved.tasks[task_id].coach_id == "coach-ana"


def test_a_discharge_while_the_coach_is_absent_moves_the_patient_before_planning() -> None:
    record = planned()
    pool = CoachPool({"coach-ben": 0}, unavailable={"coach-ana": Availability.ABSENT})
    updated, events = decide_discharge(
        record, discharged(2), pool, RULES, stamp(DISCHARGED_AT + timedelta(days=3))
    )
    (assigned,) = of(events, CoachAssigned)
    assert assigned.reason == "coach_absent"
    assert {e.coach_id for e in of(events, FollowUpTaskCreated)} == {"coach-ben"}
    assert {t.coach_id for t in updated.open_tasks().values()} == {"coach-ben"}


# --- overdue and escalation ----------------------------------------------------------------


def test_nothing_is_overdue_at_the_due_instant() -> None:
    _, events = sweep(planned(), CHECK_IN_DUE)
    assert events == []


def test_a_task_past_due_is_announced_overdue_once() -> None:
    record = planned()
    record, first = sweep(record, CHECK_IN_DUE + timedelta(seconds=1))
    assert [(e.kind, e.escalated_to_site_lead) for e in first] == [(TaskKind.COACH_CHECK_IN, False)]
    (overdue,) = first
    assert overdue.event_id == stable_id(check_in_id(record), "overdue")
    assert overdue.occurred_at == CHECK_IN_DUE
    record, second = sweep(record, CHECK_IN_DUE + timedelta(hours=2))
    assert second == []


def test_still_open_after_the_grace_period_it_is_escalated_to_the_site_lead_once() -> None:
    record, _ = sweep(planned(), CHECK_IN_DUE + timedelta(minutes=1))
    record, at_grace = sweep(record, CHECK_IN_DUE + GRACE)
    assert at_grace == []
    record, escalated = sweep(record, CHECK_IN_DUE + GRACE + timedelta(seconds=1))
    (event,) = [e for e in escalated if e.kind is TaskKind.COACH_CHECK_IN]
    assert (event.escalated_to_site_lead, event.site_lead_id) == (True, "lead-north")
    assert event.event_id == stable_id(check_in_id(record), "escalated")
    _, later = sweep(record, CHECK_IN_DUE + GRACE + timedelta(days=1))
    assert [e for e in later if e.kind is TaskKind.COACH_CHECK_IN] == []


def test_a_long_missed_task_fires_overdue_and_escalation_in_one_sweep() -> None:
    _, events = sweep(planned(), CHECK_IN_DUE + GRACE + timedelta(hours=1))
    check_in = [e for e in events if e.kind is TaskKind.COACH_CHECK_IN]
    assert [e.escalated_to_site_lead for e in check_in] == [False, True]


def test_a_task_completed_before_the_sweep_never_fires() -> None:
    record = planned()
    task_id = check_in_id(record)
    record = decide_completion(record, task_id, "coach-ana", OK, None, stamp(DISCHARGED_AT), RULES)[
        0
    ]
    _, events = sweep(record, CHECK_IN_DUE + GRACE * 3)
    assert task_id not in {e.task_id for e in events}


def test_the_site_lead_may_complete_a_task_escalated_to_them_but_not_before() -> None:
    record = planned()
    task_id = check_in_id(record)
    with pytest.raises(TaskOfAnotherCoachError):
        decide_completion(record, task_id, "lead-north", OK, None,
                          stamp(DISCHARGED_AT), RULES, "lead-north")  # fmt: skip
    record, _ = sweep(record, CHECK_IN_DUE + GRACE * 2)
    done, _events = decide_completion(
        record, task_id, "lead-north", OK, None, stamp(DISCHARGED_AT), RULES,
        "lead-north",
    )  # fmt: skip
    assert done.tasks[task_id].completed_by == "lead-north"


def test_the_sweep_index_points_at_the_next_instant_something_fires() -> None:
    record = planned()
    assert next_sweep_at(record, RULES) == CHECK_IN_DUE
    record, _ = sweep(record, CHECK_IN_DUE + timedelta(minutes=1))
    booking_due = DISCHARGED_AT + timedelta(hours=72)
    assert next_sweep_at(record, RULES) == min(CHECK_IN_DUE + GRACE, booking_due)
    record, _ = sweep(record, DISCHARGED_AT + timedelta(days=30))
    assert next_sweep_at(record, RULES) is None


def test_the_grace_period_is_configuration() -> None:
    rules = CoachingRules(escalation_grace_hours=2)
    record = planned()
    _, events = decide_sweep(record, CHECK_IN_DUE + timedelta(hours=3), rules, None, stamp(
        DISCHARGED_AT))  # fmt: skip
    escalated = [e for e in of(events, FollowUpTaskOverdue) if e.escalated_to_site_lead]
    assert [e.kind for e in escalated] == [TaskKind.COACH_CHECK_IN]
