"""Coaching handlers and HTTP routes over an in-memory collection: no Kafka, no MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import Topic
from contracts.session import SessionDischarged
from contracts.vocabulary import TaskKind
from services.coaching.main import OVERDUE_SWEEP, create_app
from services.coaching.roster import Roster
from services.coaching.rules import CoachingRules
from services.runtime.auth import Role, mint_token
from services.runtime.network import Network, Site
from tests.support.apps import Wrapping, build
from tests.support.memory import (
    MemoryDatabase,
)
from tests.unit.coaching.builders import DISCHARGED_AT, discharged

NOW = DISCHARGED_AT + timedelta(days=2)
NETWORK = Network(
    sites=(
        Site(
            site_id="site-north",
            name="North",
            time_zone="UTC",
            rems_certified=True,
            coaches=("coach-ben", "coach-ana"),
            site_lead="lead-north",
        ),
        Site(
            site_id="site-south",
            name="South",
            time_zone="UTC",
            rems_certified=False,
            coaches=("coach-cy",),
        ),
    )
)


class Harness(Wrapping):
    def __init__(
        self, db: MemoryDatabase | None = None, rules: CoachingRules | None = None
    ) -> None:
        self.db = db or MemoryDatabase(interleave=True)
        self.built = build(
            create_app, "coaching", db=self.db, now=NOW,
            rules=rules or CoachingRules(), network=NETWORK, roster=Roster(),
        )  # fmt: skip
        self.settings, self.service = self.built.settings, self.built.service
        self.collection = self.db["coaching_records"]
        self.handlers = self.service.subscriptions
        self.http = self.built.client

    async def sweep_overdue(self, now: datetime) -> int:
        return await self.built.sweep(OVERDUE_SWEEP, now)

    async def discharge(self, patient_id: str, n: int = 1) -> SessionDischarged:
        event = discharged(n, patient_id=patient_id)
        await self.handlers[Topic.SESSION][SessionDischarged](event)
        return event

    def headers(self, subject: str, role: Role, sites: tuple[str, ...]) -> dict[str, str]:
        token = mint_token(self.settings, subject, role, sites, now=datetime.now(UTC))
        return {"Authorization": f"Bearer {token}"}

    def coach(self, coach_id: str) -> dict[str, str]:
        return self.headers(coach_id, Role.COACH, ("site-north",))

    def queue(self, coach_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/coaches/{coach_id}/tasks", headers=self.coach(coach_id))
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_discharge_puts_the_plan_in_the_coach_queue_due_soonest_first(
    harness: Harness,
) -> None:
    await harness.discharge("pat-1")
    queue = harness.queue("coach-ana")
    due = [(t["kind"], t["overdue"]) for t in queue]
    assert due[:2] == [(TaskKind.COACH_CHECK_IN, True), (TaskKind.INTEGRATION_BOOKING, False)]
    assert set(due[2:]) == {(TaskKind.LIFESTYLE_PLAN, False), (TaskKind.PHQ9, False)}
    assert [t["due_at"] for t in queue] == sorted(t["due_at"] for t in queue)
    assert {(t["patient_id"], t["session_id"]) for t in queue} == {("pat-1", "ses-1")}
    indexed = harness.collection.docs["pat-1"]
    assert indexed["coach_id"] == "coach-ana"
    assert isinstance(indexed["open_tasks"][0]["due_at"], datetime)


async def test_a_redelivered_discharge_changes_nothing(harness: Harness) -> None:
    event = await harness.discharge("pat-1")
    before = harness.collection.docs["pat-1"]
    await harness.handlers[Topic.SESSION][SessionDischarged](event)
    assert harness.collection.docs["pat-1"] == before


async def test_patients_go_to_the_least_loaded_coach_ties_by_id(harness: Harness) -> None:
    for n, patient in enumerate(("pat-1", "pat-2", "pat-3"), start=1):
        await harness.discharge(patient, n)
    coaches = {p: d["coach_id"] for p, d in harness.collection.docs.items()}
    assert coaches == {"pat-1": "coach-ana", "pat-2": "coach-ben", "pat-3": "coach-ana"}


@pytest.mark.parametrize(
    ("subject", "role", "sites", "status"),
    [
        ("coach-ben", Role.COACH, ("site-north",), 403),
        ("admin-n", Role.SITE_ADMIN, ("site-north",), 200),
        ("admin-s", Role.SITE_ADMIN, ("site-south",), 403),
        ("ops-1", Role.OPS, ("*",), 200),
        ("nurse-1", Role.NURSE, ("site-north",), 403),
    ],
)
async def test_who_may_read_a_coach_queue(
    harness: Harness, subject: str, role: Role, sites: tuple[str, ...], status: int
) -> None:
    await harness.discharge("pat-1")
    headers = harness.headers(subject, role, sites)
    assert harness.http.get("/coaches/coach-ana/tasks", headers=headers).status_code == status


async def test_a_coach_no_site_lists_is_unknown_to_admins(harness: Harness) -> None:
    headers = harness.headers("ops-1", Role.OPS, ("*",))
    assert harness.http.get("/coaches/coach-zed/tasks", headers=headers).status_code == 404


async def test_completing_tasks_over_http(harness: Harness) -> None:
    await harness.discharge("pat-1")
    tasks = {t["kind"]: t["task_id"] for t in harness.queue("coach-ana")}
    url = f"/patients/pat-1/tasks/{tasks[TaskKind.PHQ9]}/complete"
    body = {"outcome": {"phq9": [2, 2, 2, 2, 2, 2, 2, 2, 1]}, "note": "said something private"}

    assert harness.http.post(url, json=body, headers=harness.coach("coach-ben")).status_code == 403
    missing = "/patients/pat-1/tasks/nope/complete"
    assert (
        harness.http.post(missing, json=body, headers=harness.coach("coach-ana")).status_code == 404
    )
    done = harness.http.post(url, json=body, headers=harness.coach("coach-ana"))
    assert done.status_code == 200, done.text
    assert done.json()["events"] == ["FollowUpTaskCompleted", "OutcomeMeasured", "RiskFlagRaised"]
    again = harness.http.post(url, json=body, headers=harness.coach("coach-ana"))
    assert (again.status_code, again.json()["error"]) == (409, "TaskAlreadyCompletedError")

    assert TaskKind.PHQ9 not in {t["kind"] for t in harness.queue("coach-ana")}
    outbox = harness.collection.docs["pat-1"]["outbox"]
    assert "private" not in "".join(entry["value"] for entry in outbox)
    assert {entry["topic"] for entry in outbox} == {Topic.COACHING.value}


async def test_phq9_task_without_answers_is_refused(harness: Harness) -> None:
    await harness.discharge("pat-1")
    tasks = {t["kind"]: t["task_id"] for t in harness.queue("coach-ana")}
    url = f"/patients/pat-1/tasks/{tasks[TaskKind.PHQ9]}/complete"
    response = harness.http.post(url, json={"outcome": {}}, headers=harness.coach("coach-ana"))
    assert response.status_code == 422
