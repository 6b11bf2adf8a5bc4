"""Site dashboards and coach queues derived from journey documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.journey.domain import Appointment, Journey, Task
from services.journey.queries import coach_queue, dashboard

NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 19:30 in New York, already the 11th in UTC
NEW_YORK = ZoneInfo("America/New_York")


def task(task_id: str, coach: str, due_in_hours: float, overdue: bool = False) -> Task:
    return Task(task_id=task_id, kind="coach_check_in", coach_id=coach,
                due_at=NOW + timedelta(hours=due_in_hours), overdue=overdue)  # fmt: skip


def dosing(appointment_id: str, starts_at: datetime) -> Appointment:
    return Appointment(appointment_id=appointment_id, kind="dosing", starts_at=starts_at,
                       dose_number=1)  # fmt: skip


JOURNEYS = [
    Journey(patient_id="p1", site_id="site-north", phase="induction", doses_held=1,
            open_tasks={"t1": task("t1", "coach-ana", -2), "t2": task("t2", "coach-ana", 30)},
            appointments={"a1": dosing("a1", datetime(2026, 3, 10, 14, tzinfo=UTC))},
            open_risk_flags=["f1"], monitoring_forms_due=1),
    Journey(patient_id="p2", site_id="site-north", phase="induction",
            open_tasks={"t3": task("t3", "coach-ben", 5, overdue=True)},
            appointments={"a2": dosing("a2", datetime(2026, 3, 11, 14, tzinfo=UTC))}),
    Journey(patient_id="p3", site_id="site-north", phase="awaiting_review", no_shows=2),
]  # fmt: skip


def test_the_dashboard_counts_census_holds_no_shows_flags_and_forms() -> None:
    board = dashboard("site-north", JOURNEYS, NOW, NEW_YORK)
    assert board["patients"] == 3
    assert board["census"]["induction"] == 2
    assert board["census"]["awaiting_review"] == 1
    assert board["census"]["completed"] == 0
    assert (board["doses_held"], board["no_shows"], board["open_risk_flags"]) == (1, 2, 1)
    assert board["monitoring_forms_due"] == 1


def test_overdue_tasks_are_those_past_due_now_or_already_marked_overdue() -> None:
    board = dashboard("site-north", JOURNEYS, NOW, NEW_YORK)
    assert (board["open_tasks"], board["overdue_tasks"]) == (3, 2)


def test_todays_chairs_are_the_sites_local_day_not_the_utc_day() -> None:
    board = dashboard("site-north", JOURNEYS, NOW, NEW_YORK)
    assert [c["appointment_id"] for c in board["todays_dosing"]] == ["a1"]


def test_a_coach_queue_holds_only_that_coachs_tasks_due_soonest_first() -> None:
    queue = coach_queue("coach-ana", JOURNEYS, NOW)
    assert [(t["task_id"], t["overdue"]) for t in queue] == [("t1", True), ("t2", False)]
    assert coach_queue("coach-cy", JOURNEYS, NOW) == []
