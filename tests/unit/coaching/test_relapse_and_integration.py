"""Relapse after response, and integration sessions recorded by therapists."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.coaching import (
    FollowUpTaskCompleted,
    FollowUpTaskCreated,
    IntegrationBookingRequested,
    IntegrationSessionRecorded,
    RelapseSuspected,
    ResponseAchieved,
)
from contracts.envelope import EventBase
from contracts.vocabulary import TaskKind
from services.coaching.domain import (
    CoachingRecord,
    UnknownPatientError,
    decide_discharge,
    decide_screening,
)
from services.coaching.integration import (
    IntegrationSessionAlreadyRecordedError,
    IntegrationSessionBeforeDoseError,
    IntegrationSessionInFutureError,
    RecordIntegrationSession,
    decide_integration_session,
)
from services.coaching.outcomes import is_worsening, measure_phq9
from services.coaching.roster import CoachPool
from services.coaching.rules import CoachingRules
from services.runtime.errors import status_of
from tests.unit.coaching.builders import DISCHARGED_AT, discharged, of, phq9, screened, stamp

RULES = CoachingRules()
POOL = CoachPool({"coach-ana": 0})
LATER = DISCHARGED_AT + timedelta(days=2)


def followed(baseline: int, *totals: int, rules: CoachingRules = RULES) -> list[EventBase]:
    """Events of the last of a series of follow-up PHQ-9 totals after `baseline`."""
    record = decide_screening(None, screened(baseline))[0]
    events: list[EventBase] = []
    for n, total in enumerate(totals):
        answers = phq9(total).phq9
        assert answers is not None
        record, events = measure_phq9(record, answers, f"{n:032x}", stamp(LATER), rules)
    return events


# --- relapse ------------------------------------------------------------------------------


def test_worsening_is_at_least_10_and_at_least_5_above_the_best() -> None:
    assert is_worsening(10, 5, RULES)
    assert not is_worsening(9, 2, RULES), "below the clinical cut-off"
    assert not is_worsening(13, 9, RULES), "a 4-point rise is within measurement noise"


def test_worsening_after_response_is_a_suspected_relapse() -> None:
    (relapse,) = of(followed(20, 8, 13), RelapseSuspected)
    assert (relapse.total, relapse.best_total, relapse.baseline_total) == (13, 8, 20)


@pytest.mark.parametrize(
    ("totals", "why"),
    [
        ((8, 12), "rise of 4 from the best"),
        ((4, 9), "back to 9, under 10"),
        ((12, 17), "no response"),
    ],
)
def test_no_relapse_at_the_boundaries(totals: tuple[int, ...], why: str) -> None:
    assert of(followed(20, *totals), RelapseSuspected) == [], why


def test_the_best_score_not_the_last_one_is_the_reference() -> None:
    assert of(followed(20, 4, 8, 10), RelapseSuspected) != []


def test_relapse_is_suspected_once_until_a_new_response_rearms_it() -> None:
    assert of(followed(20, 8, 14, 16), RelapseSuspected) == []
    assert of(followed(20, 8, 14, 6, 14), RelapseSuspected) != []


def test_two_confirmations_need_two_consecutive_worse_scores() -> None:
    rules = CoachingRules(relapse_confirmations=2)
    assert of(followed(20, 8, 14, rules=rules), RelapseSuspected) == []
    assert of(followed(20, 8, 14, 9, 14, rules=rules), RelapseSuspected) == []
    assert of(followed(20, 8, 14, 15, rules=rules), RelapseSuspected) != []


def test_response_is_still_announced_once() -> None:
    assert of(followed(20, 10), ResponseAchieved) != []
    assert of(followed(20, 10, 9), ResponseAchieved) == []


# --- integration sessions -----------------------------------------------------------------


def planned() -> CoachingRecord:
    return decide_discharge(None, discharged(), POOL, RULES, stamp(DISCHARGED_AT))[0]


def record_session(
    record: CoachingRecord | None, status: str = "completed", sid: str = "int-1", **kw: object
) -> tuple[CoachingRecord, list[EventBase]]:
    command = RecordIntegrationSession(
        integration_session_id=sid,
        status=status,  # type: ignore[arg-type]
        held_at=kw.pop("held_at", LATER),  # type: ignore[arg-type]
        session_id=kw.pop("session_id", "ses-1"),  # type: ignore[arg-type]
        note="private words",
    )
    return decide_integration_session(record, command, "ther-1", stamp(LATER), RULES)


def test_a_completed_integration_session_fulfils_the_booking_task() -> None:
    record = planned()
    updated, events = record_session(record)
    (recorded,) = of(events, IntegrationSessionRecorded)
    assert (recorded.status, recorded.therapist_id, recorded.session_id) == (
        "completed",
        "ther-1",
        "ses-1",
    )
    (done,) = of(events, FollowUpTaskCompleted)
    assert (done.kind, done.coach_id, done.completed_by) == (
        TaskKind.INTEGRATION_BOOKING,
        "coach-ana",
        "ther-1",
    )
    assert not updated.has_open(TaskKind.INTEGRATION_BOOKING)
    assert "private" not in "".join(e.model_dump_json() for e in events)


def test_a_missed_integration_session_renews_the_booking_request() -> None:
    updated, events = record_session(planned(), status="missed")
    (created,) = of(events, FollowUpTaskCreated)
    assert created.kind is TaskKind.INTEGRATION_BOOKING
    assert created.due_at == LATER + timedelta(hours=72)
    (request,) = of(events, IntegrationBookingRequested)
    assert (request.session_id, request.book_by) == ("ses-1", created.due_at)
    assert request.appointment_id is not None, "the dose behind the session travels along"
    open_bookings = [t for t in updated.open_tasks().values()
                     if t.kind is TaskKind.INTEGRATION_BOOKING]  # fmt: skip
    assert len(open_bookings) == 1


def test_recording_the_same_session_twice_changes_nothing_and_a_contradiction_is_refused() -> None:
    record, _ = record_session(planned())
    again, events = record_session(record)
    assert (again, events) == (record, [])
    with pytest.raises(IntegrationSessionAlreadyRecordedError):
        record_session(record, status="missed")


def test_a_session_cannot_be_recorded_before_it_is_held_or_for_an_unknown_patient() -> None:
    with pytest.raises(IntegrationSessionInFutureError):
        record_session(planned(), held_at=LATER + timedelta(hours=1))
    with pytest.raises(UnknownPatientError):
        record_session(None)


DOSED_AT = DISCHARGED_AT - timedelta(hours=2)


def dosed(*sessions: int) -> CoachingRecord:
    """Discharges of the given treatment days, each dosed two hours before its discharge."""
    record = None
    for n in sessions:
        at = DISCHARGED_AT + timedelta(days=n - 1)
        discharge = discharged(n, at=at, dosed_at=at - timedelta(hours=2))
        record = decide_discharge(record, discharge, POOL, RULES, stamp(at))[0]
    assert record is not None
    return record


def test_an_integration_session_held_before_the_dose_it_integrates_is_refused() -> None:
    record = dosed(1)
    assert record.doses == {"ses-1": DOSED_AT}
    early = DOSED_AT - timedelta(minutes=1)
    with pytest.raises(IntegrationSessionBeforeDoseError) as refused:
        record_session(record, held_at=early)
    assert status_of(refused.value) == 422
    assert refused.value.reasons == [
        f"held_at {early.isoformat()} precedes the dose at {DOSED_AT.isoformat()} it integrates"
    ]
    assert of(record_session(record, held_at=DOSED_AT)[1], IntegrationSessionRecorded)


def test_a_session_naming_no_treatment_day_follows_every_dose_whose_booking_it_fulfils() -> None:
    record = dosed(1, 2)
    second_dose = record.doses["ses-2"]
    with pytest.raises(IntegrationSessionBeforeDoseError):
        record_session(record, session_id=None, held_at=second_dose - timedelta(minutes=1))
    between = record.doses["ses-1"] + timedelta(hours=3)
    assert of(record_session(record, held_at=between)[1], IntegrationSessionRecorded)


def test_a_treatment_day_without_a_known_dose_time_leaves_the_order_unchecked() -> None:
    assert planned().doses == {}
    assert of(record_session(planned(), held_at=DOSED_AT)[1], IntegrationSessionRecorded)
