"""Coaching rules without servers: follow-up plans, coach assignment and PHQ-9 outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.coaching import (
    CoachAssigned,
    FollowUpTaskCompleted,
    FollowUpTaskCreated,
    IntegrationBookingRequested,
    OutcomeMeasured,
    RemissionAchieved,
    ResponseAchieved,
)
from contracts.envelope import EventBase, Stamp
from contracts.intake import RiskFlagRaised
from contracts.vocabulary import CoursePhase, RiskKind, RiskSeverity, TaskKind
from services.coaching.domain import (
    CoachingRecord,
    Outcome,
    Phq9AnswersRequiredError,
    TaskAlreadyCompletedError,
    TaskOfAnotherCoachError,
    UnknownTaskError,
    decide_discharge,
    decide_screening,
)
from services.coaching.outcomes import decide_completion
from services.coaching.roster import CoachPool, NoCoachAtSiteError
from services.coaching.rules import CoachingRules
from tests.unit.coaching import builders
from tests.unit.coaching.builders import DISCHARGED_AT, discharged, of, phq9, screened

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
RULES = CoachingRules()
LOADS = CoachPool({"coach-ana": 0, "coach-ben": 0})


def stamp(now: datetime = NOW) -> Stamp:
    return builders.stamp(now)


def created(events: list[EventBase]) -> dict[TaskKind, FollowUpTaskCreated]:
    return {e.kind: e for e in events if isinstance(e, FollowUpTaskCreated)}


def after_first_discharge(baseline: int | None = 20) -> CoachingRecord:
    record = decide_screening(None, screened(baseline))[0] if baseline is not None else None
    return decide_discharge(record, discharged(), LOADS, RULES, stamp())[0]


def complete_phq9(record: CoachingRecord, outcome: Outcome) -> list[EventBase]:
    task_id = next(k for k, t in record.open_tasks().items() if t.kind is TaskKind.PHQ9)
    return decide_completion(record, task_id, "coach-ana", outcome, None, stamp(), RULES)[1]


def test_first_discharge_creates_exactly_the_configured_follow_up_plan() -> None:
    _, events = decide_discharge(None, discharged(), LOADS, RULES, stamp())
    tasks = created(events)
    assert {kind: task.due_at for kind, task in tasks.items()} == {
        TaskKind.INTEGRATION_BOOKING: DISCHARGED_AT + timedelta(hours=72),
        TaskKind.COACH_CHECK_IN: DISCHARGED_AT + timedelta(hours=24),
        TaskKind.LIFESTYLE_PLAN: DISCHARGED_AT + timedelta(days=7),
        TaskKind.PHQ9: DISCHARGED_AT + timedelta(days=7),
    }
    assert len(of(events, FollowUpTaskCreated)) == 4
    assert {t.session_id for t in tasks.values()} == {"ses-1"}
    (booking,) = of(events, IntegrationBookingRequested)
    assert booking.book_by == DISCHARGED_AT + timedelta(hours=72)
    assert booking.task_id == tasks[TaskKind.INTEGRATION_BOOKING].task_id
    assert booking.appointment_id == discharged().appointment_id


def test_due_times_count_from_the_discharge_not_from_the_processing_clock() -> None:
    late = stamp(now=DISCHARGED_AT + timedelta(days=40))
    _, events = decide_discharge(None, discharged(), LOADS, RULES, late)
    assert created(events)[TaskKind.COACH_CHECK_IN].due_at == DISCHARGED_AT + timedelta(hours=24)


def test_plan_follows_configuration() -> None:
    rules = CoachingRules(integration_within_hours=48, check_in_after_hours=12)
    _, events = decide_discharge(None, discharged(), LOADS, rules, stamp())
    tasks = created(events)
    assert tasks[TaskKind.INTEGRATION_BOOKING].due_at == DISCHARGED_AT + timedelta(hours=48)
    assert tasks[TaskKind.COACH_CHECK_IN].due_at == DISCHARGED_AT + timedelta(hours=12)


def test_maintenance_discharge_schedules_phq9_monthly() -> None:
    _, events = decide_discharge(
        None, discharged(phase=CoursePhase.MAINTENANCE), LOADS, RULES, stamp()
    )
    assert created(events)[TaskKind.PHQ9].due_at == DISCHARGED_AT + timedelta(days=30)


def test_second_discharge_adds_no_lifestyle_plan_and_no_second_open_phq9() -> None:
    record = after_first_discharge()
    second = discharged(2, at=DISCHARGED_AT + timedelta(days=3))
    updated, events = decide_discharge(record, second, LOADS, RULES, stamp())
    assert set(created(events)) == {TaskKind.INTEGRATION_BOOKING, TaskKind.COACH_CHECK_IN}
    assert not of(events, CoachAssigned)
    open_phq9 = [t for t in updated.open_tasks().values() if t.kind is TaskKind.PHQ9]
    assert len(open_phq9) == 1


def test_discharge_after_the_phq9_was_completed_schedules_the_next_one() -> None:
    record = after_first_discharge()
    task_id = next(k for k, t in record.tasks.items() if t.kind is TaskKind.PHQ9)
    record = decide_completion(record, task_id, "coach-ana", phq9(12), None, stamp(), RULES)[0]
    _, events = decide_discharge(record, discharged(2), LOADS, RULES, stamp())
    assert TaskKind.PHQ9 in created(events)
    assert TaskKind.LIFESTYLE_PLAN not in created(events)


def test_the_same_discharge_applied_twice_creates_nothing_the_second_time() -> None:
    record = after_first_discharge()
    _, events = decide_discharge(record, discharged(), LOADS, RULES, stamp())
    assert events == []


def test_first_discharge_assigns_the_least_loaded_coach_of_the_site() -> None:
    loads = CoachPool({"coach-ana": 5, "coach-ben": 2, "coach-cy": 3})
    record, events = decide_discharge(None, discharged(), loads, RULES, stamp())
    assert [e.coach_id for e in of(events, CoachAssigned)] == ["coach-ben"]
    assert {t.coach_id for t in created(events).values()} == {"coach-ben"}
    assert record.coach_id == "coach-ben"


def test_equally_loaded_coaches_are_chosen_by_coach_id() -> None:
    assert CoachPool({"coach-ben": 1, "coach-ana": 1, "coach-cy": 4}).choose() == (
        "coach-ana",
        False,
    )


def test_an_assigned_coach_keeps_the_patient_whatever_the_loads() -> None:
    record = after_first_discharge()
    assert record.coach_id == "coach-ana"
    updated, events = decide_discharge(
        record, discharged(2), CoachPool({"coach-ana": 9, "coach-ben": 0}), RULES, stamp()
    )
    assert updated.coach_id == "coach-ana"
    assert not of(events, CoachAssigned)


def test_a_site_without_coaches_cannot_take_a_discharge() -> None:
    with pytest.raises(NoCoachAtSiteError):
        decide_discharge(None, discharged(), CoachPool({}), RULES, stamp())


def test_first_screening_sets_the_baseline_and_a_later_one_does_not_move_it() -> None:
    record, _ = decide_screening(None, screened(20))
    record, _ = decide_screening(record, screened(8))
    assert record.baseline_phq9 == 20


def test_completing_a_phq9_task_measures_the_outcome_against_baseline() -> None:
    record = after_first_discharge(baseline=20)
    events = complete_phq9(record, phq9(14))
    completed, measured = of(events, FollowUpTaskCompleted), of(events, OutcomeMeasured)
    assert len(completed) == 1
    assert [(m.total, m.item9, m.baseline_total) for m in measured] == [(14, 0, 20)]
    assert not of(events, RiskFlagRaised) + of(events, ResponseAchieved)


def test_a_phq9_task_cannot_be_completed_without_answers() -> None:
    record = after_first_discharge()
    with pytest.raises(Phq9AnswersRequiredError):
        complete_phq9(record, Outcome(check_in="ok"))


@pytest.mark.parametrize(("baseline", "total"), [(20, 10), (26, 13)])
def test_a_drop_of_exactly_half_from_baseline_is_a_response(baseline: int, total: int) -> None:
    events = complete_phq9(after_first_discharge(baseline), phq9(total))
    assert [e.baseline_total for e in of(events, ResponseAchieved)] == [baseline]


@pytest.mark.parametrize(("baseline", "total"), [(27, 14), (20, 11)])
def test_a_drop_just_under_half_is_not_a_response(baseline: int, total: int) -> None:
    events = complete_phq9(after_first_discharge(baseline), phq9(total))
    assert of(events, ResponseAchieved) == []


def test_without_a_baseline_there_is_no_response() -> None:
    events = complete_phq9(after_first_discharge(baseline=None), phq9(6))
    assert of(events, ResponseAchieved) == []


def test_phq9_of_4_is_remission_and_5_is_not() -> None:
    assert of(complete_phq9(after_first_discharge(), phq9(5)), RemissionAchieved) == []
    assert len(of(complete_phq9(after_first_discharge(), phq9(4)), RemissionAchieved)) == 1


def test_response_and_remission_are_announced_only_the_first_time() -> None:
    record = after_first_discharge(baseline=20)
    task_id = next(k for k, t in record.tasks.items() if t.kind is TaskKind.PHQ9)
    record, first = decide_completion(record, task_id, "coach-ana", phq9(3), None, stamp(), RULES)
    assert len(of(first, ResponseAchieved)) == len(of(first, RemissionAchieved)) == 1
    record, _ = decide_discharge(record, discharged(2), LOADS, RULES, stamp())
    again = complete_phq9(record, phq9(2))
    assert of(again, OutcomeMeasured)
    assert not of(again, ResponseAchieved) + of(again, RemissionAchieved)


def test_item9_above_zero_raises_a_high_risk_flag_due_in_24_hours() -> None:
    events = complete_phq9(after_first_discharge(), phq9(12, item9=1))
    (flag,) = of(events, RiskFlagRaised)
    assert (flag.kind, flag.severity) == (RiskKind.PHQ9_ITEM9, RiskSeverity.HIGH)
    assert flag.acknowledge_by == NOW + timedelta(hours=24)
    assert flag.producer == "coaching"


def test_a_task_is_completed_only_by_its_coach_and_only_once() -> None:
    record = after_first_discharge()
    task_id = next(k for k, t in record.tasks.items() if t.kind is TaskKind.COACH_CHECK_IN)
    ok = Outcome(check_in="ok")
    with pytest.raises(TaskOfAnotherCoachError):
        decide_completion(record, task_id, "coach-ben", ok, None, stamp(), RULES)
    done, events = decide_completion(record, task_id, "coach-ana", ok, "private", stamp(), RULES)
    assert [type(e) for e in events] == [FollowUpTaskCompleted]
    assert "private" not in "".join(e.model_dump_json() for e in events)
    with pytest.raises(TaskAlreadyCompletedError):
        decide_completion(done, task_id, "coach-ana", ok, None, stamp(), RULES)
    with pytest.raises(UnknownTaskError):
        decide_completion(done, "no-such-task", "coach-ana", ok, None, stamp(), RULES)
