"""The checker finds what it is there to find (lost, duplicated, unexpected effects) and the
fault schedule is the same for the same seed: no servers needed."""

from __future__ import annotations

from typing import Any

from chaos.checker import Observed, compare
from chaos.faults import INFRA_KINDS, schedule
from chaos.ledger import Command, Ledger

PID, SID, TASK = "pat-1", "ses-apt-pat-1-dose-1", "task-1"
KINDS = ("integration_booking", "coach_check_in", "lifestyle_plan", "phq9")
AT = ["2026-01-01T10:00:00+00:00", "2026-01-01T10:45:00+00:00"]


def event(n: int, event_type: str, **facts: Any) -> dict[str, Any]:
    return {"event_id": f"e{n}", "event_type": event_type, "patient_id": PID, **facts}


def accepted(kind: str, service: str, lost: int = 0, **detail: Any) -> Command:
    answer = {"session_id": SID} if kind == "check_in" else {"patient_id": PID}
    return Command(kind, service, f"k-{kind}-{len(detail)}-{lost}", PID, detail, "accepted",
                   attempts=1 + lost, lost=lost, statuses=[201], answer=answer)  # fmt: skip


def journey_ledger() -> Ledger:
    """One patient's whole journey, every command accepted."""
    ledger = Ledger()
    for command in [
        accepted("referral", "intake"),
        accepted("approval", "intake"),
        accepted("check_in", "session", appointment_id="apt-pat-1-dose-1"),
        accepted("vitals", "session", session_id=SID, observed_at=AT[0]),
        accepted("dose", "session", session_id=SID),
        accepted("vitals", "session", lost=1, session_id=SID, observed_at=AT[1]),
        accepted("discharge", "session", session_id=SID),
        accepted("complete_task", "coaching", task_id=TASK, task_kind="lifestyle_plan"),
    ]:
        ledger.add(command)
    return ledger


def system() -> Observed:
    """What the system holds after that journey, exactly once each."""
    events = [
        event(1, "PatientReferred"),
        event(2, "EligibilityDecided"),
        event(3, "CourseScheduled"),
        event(4, "PatientCheckedIn", session_id=SID),
        event(5, "DoseAdministered", session_id=SID),
        event(6, "SessionDischarged", session_id=SID),
        *(event(10 + i, "FollowUpTaskCreated", kind=k, task_id=f"task-{i}")
          for i, k in enumerate(KINDS)),
        event(20, "FollowUpTaskCompleted", task_id=TASK),
    ]  # fmt: skip
    appointment = {"appointment_id": "apt-pat-1-dose-1", "kind": "dosing", "status": "booked",
                   "dose_number": 1, "chair_id": "chair-1", "starts_at": "2026-01-02T09:00",
                   "ends_at": "2026-01-02T11:00"}  # fmt: skip
    readings = [{"observed_at": at} for at in AT]
    return Observed(
        events=events,
        dead_letters={},
        records={PID: {"patient_id": PID}},
        courses={PID: {"patient_id": PID, "appointments": [appointment]}},
        sessions={SID: {"patient_id": PID, "vitals": readings, "dose": {"dose_mg": 56}}},
        journeys={PID: {"doses_given": 1, "discharges": 1, "open_tasks": [
            {"task_id": f"task-{i}", "kind": k} for i, k in enumerate(KINDS) if i != 1]}},
    )  # fmt: skip


def kinds(findings: list[Any]) -> set[tuple[str, str]]:
    return {(f.kind, f.what) for f in findings}


def test_a_whole_journey_held_once_is_clean() -> None:
    assert compare(journey_ledger(), system()) == []


def test_a_course_blocked_for_capacity_answers_the_approval() -> None:
    seen = system()
    seen.events = [e for e in seen.events if e["event_type"] != "CourseScheduled"]
    seen.events.append(event(50, "CourseBlocked"))
    seen.courses[PID] = {"patient_id": PID, "appointments": [], "status": "blocked"}
    assert compare(journey_ledger(), seen) == []
    seen.events.pop()
    assert kinds(compare(journey_ledger(), seen)) == {("lost", "course decision")}


def test_a_second_follow_up_task_for_one_discharge_is_a_duplicate() -> None:
    seen = system()
    seen.events.append(event(30, "FollowUpTaskCreated", kind="phq9", task_id="task-9"))
    assert kinds(compare(journey_ledger(), seen)) == {("duplicated", "follow-up task")}


def test_a_redelivered_event_is_not_a_second_effect() -> None:
    seen = system()
    seen.events.append(dict(seen.events[4]))  # same event id: a redelivery
    assert compare(journey_ledger(), seen) == []


def test_a_dose_counted_twice_and_a_slot_booked_twice_are_duplicates() -> None:
    seen = system()
    seen.journeys[PID]["doses_given"] = 2
    other = {**seen.courses[PID]["appointments"][0], "appointment_id": "apt-pat-2-dose-1"}
    seen.courses["pat-2"] = {"patient_id": "pat-2", "appointments": [other]}
    assert kinds(compare(journey_ledger(), seen)) == {
        ("duplicated", "dose counted twice"),
        ("duplicated", "chair booked twice"),
    }


def test_a_reading_charted_twice_after_a_lost_answer_is_marked_as_such() -> None:
    seen = system()
    seen.sessions[SID]["vitals"].append({"observed_at": AT[1]})
    (found,) = compare(journey_ledger(), seen)
    assert (found.kind, found.what, found.after_retry) == ("duplicated", "vitals reading", True)


def test_an_accepted_discharge_without_its_plan_is_lost() -> None:
    seen = system()
    seen.events = [e for e in seen.events if e["event_type"] != "FollowUpTaskCreated"]
    lost = compare(journey_ledger(), seen)
    assert {(f.kind, f.what, f.detail) for f in lost} == {
        ("lost", "follow-up task", k) for k in KINDS
    }


def test_an_indeterminate_command_may_have_its_effect_or_not() -> None:
    ledger = journey_ledger()
    dose = next(c for c in ledger.commands if c.kind == "dose")
    dose.outcome, dose.lost = "indeterminate", 1
    seen = system()
    seen.events = [e for e in seen.events if e["event_type"] != "DoseAdministered"]
    seen.sessions[SID]["dose"] = None
    seen.journeys[PID]["doses_given"] = 0
    assert compare(ledger, seen) == []
    assert compare(ledger, system()) == []


def test_effects_nobody_asked_for_are_unexpected() -> None:
    seen = system()
    seen.events.append({**event(40, "PatientReferred"), "patient_id": "pat-stranger"})
    seen.sessions[SID]["vitals"].append({"observed_at": "2026-01-01T11:00:00+00:00"})
    assert kinds(compare(journey_ledger(), seen)) == {
        ("unexpected", "patient"),
        ("unexpected", "vitals reading"),
    }


def test_the_schedule_is_the_seeds_and_has_each_infrastructure_fault_once() -> None:
    first, again, other = schedule(7, 90), schedule(7, 90), schedule(8, 90)
    assert first == again
    assert first != other
    assert sorted(f.kind for f in first if f.kind in INFRA_KINDS) == sorted(INFRA_KINDS)
    assert all(0 <= f.at < 90 for f in first)
    assert len(first) > 10


def test_a_series_total_adds_every_run_and_a_run_that_never_converged_shows() -> None:
    from chaos.__main__ import totals
    from chaos.run import Result

    def run(seed: int, faults: dict[str, int], lost: list[str], converged: float | None) -> Result:
        commands = {"accepted": 10 * seed, "lost_answers": seed, "http_5xx": 1}
        return Result(seed, f"d{seed}", 90.0, faults, {}, commands, 3, {}, lost, [], 0, [],
                      converged, {"g": 2}, [])  # fmt: skip

    clean = [run(1, {"kill": 2, "kafka": 1}, [], 17.5), run(2, {"kill": 1}, [], 21.0)]
    assert totals(clean) == (
        "2 runs, seeds 1-2. Faults injected: 4 (kafka 1, kill 3). Commands accepted: 30; "
        "answers lost to faults: 3; 5xx seen by the client: 2. Lost: 0. Duplicated: 0. "
        "Unexpected: 0. Dead letters: 4. Not restored: 0. Worst convergence: 21.0 s."
    )
    stuck = totals([*clean, run(3, {}, ["a discharge"], None)])
    assert "Lost: 1." in stuck
    assert stuck.endswith("Worst convergence: never (a run did not).")
