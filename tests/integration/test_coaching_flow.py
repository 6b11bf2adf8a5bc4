"""Coaching on the real broker and database: a discharge becomes tasks in the coach's queue,
a completed PHQ-9 becomes an outcome event; two sweepers on one database fire each rule once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from contracts import Topic, stable_id
from contracts.vocabulary import TaskKind
from harness.events import screened, stamp
from harness.running import auth, eventually, produce, read_topic, running
from services.coaching.main import OVERDUE_SWEEP, create_app
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.support import apps
from tests.unit.coaching.builders import DISCHARGED_AT, discharged

pytestmark = pytest.mark.infra


def topic(settings: Settings, name: str) -> str:
    return settings.kafka_topic_prefix + name


async def test_discharge_to_queue_to_phq9_to_outcome_event(settings: Settings, mongo: Any) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    bootstrap = settings.kafka_bootstrap_servers
    records = mongo[f"{settings.deployment}_coaching"]["coaching_records"]
    lead = auth(settings, Role.COACH, "lead-north", "site-north")
    async with running(create_app(settings.for_service("coaching"))) as http:
        baseline = screened(pid, s=stamp(seed=70))  # PHQ-9 18
        await produce(bootstrap, topic(settings, Topic.INTAKE), baseline.to_bytes(), pid)
        await eventually(lambda: records.find_one({"_id": pid}), timeout=60)
        discharge = discharged(1, patient_id=pid)
        for _ in range(2):  # redelivered: still one plan
            await produce(bootstrap, topic(settings, Topic.SESSION), discharge.to_bytes(), pid)

        async def site_tasks() -> list[dict[str, Any]]:
            got = (await http.get("/sites/site-north/tasks", headers=lead)).json()
            return [t for t in got if t["patient_id"] == pid]

        tasks = await eventually(site_tasks, timeout=60)
        coach = tasks[0]["coach_id"]
        assert coach in {"coach-ana", "coach-ben"}
        mine = auth(settings, Role.COACH, coach, "site-north")
        queue = (await http.get(f"/coaches/{coach}/tasks", headers=mine)).json()
        assert sorted(t["kind"] for t in queue) == sorted(TaskKind)
        other = "coach-ben" if coach == "coach-ana" else "coach-ana"
        assert (await http.get(f"/coaches/{other}/tasks", headers=mine)).status_code == 403
        phq9_task = next(t["task_id"] for t in queue if t["kind"] == TaskKind.PHQ9)
        done = await http.post(
            f"/patients/{pid}/tasks/{phq9_task}/complete",
            json={"outcome": {"phq9": [1, 1, 1, 1, 1, 1, 1, 2, 0]}, "note": "private"},
            headers=mine,
        )
        assert done.status_code == 200, done.text
        published = await read_topic(
            bootstrap, topic(settings, Topic.COACHING), pid, want=9, timeout=60
        )
    events = [json.loads(value) for _, value in published]
    types = [e["event_type"] for e in events]
    assert types.count("FollowUpTaskCreated") == 4
    assert types.count("CoachAssigned") == 1
    (outcome,) = [e for e in events if e["event_type"] == "OutcomeMeasured"]
    assert (outcome["total"], outcome["baseline_total"], outcome["item9"]) == (9, 18, 0)
    assert "ResponseAchieved" in types
    assert all("private" not in value.decode() for _, value in published)


async def test_two_sweepers_on_one_database_fire_each_rule_with_one_event_id(
    settings: Settings,
) -> None:
    first, second = (
        apps.build(create_app, "coaching", settings=settings, real_database=True) for _ in range(2)
    )
    records = first.service.db["coaching_records"]
    try:
        for built in (first, second):
            for hook in built.service.startup:
                await hook()
        patients = [f"pat-{uuid.uuid4().hex[:12]}" for _ in range(5)]
        for n, pid in enumerate(patients, start=1):
            await first.receive(Topic.SESSION, discharged(n, patient_id=pid))
        late = DISCHARGED_AT + timedelta(days=40)
        fired = await asyncio.gather(
            first.sweep(OVERDUE_SWEEP, late), second.sweep(OVERDUE_SWEEP, late)
        )
        await asyncio.gather(first.sweep(OVERDUE_SWEEP, late), second.sweep(OVERDUE_SWEEP, late))
        for pid in patients:
            doc = await records.find_one({"_id": pid})
            assert doc is not None
            overdue = [
                json.loads(e["value"])
                for e in doc["outbox"]
                if e["event_type"] == "FollowUpTaskOverdue"
            ]
            by_task: dict[str, set[str]] = {}
            for event in overdue:
                by_task.setdefault(event["task_id"], set()).add(event["event_id"])
            assert len(by_task) == 4
            for task_id, ids in by_task.items():
                assert ids == {
                    str(stable_id(task_id, "overdue")),
                    str(stable_id(task_id, "escalated")),
                }
            assert doc["next_sweep_at"] is None
        print(f"\n[sweep] events fired per sweeper: {fired}")
    finally:
        for built in (first, second):
            await built.service.client.close()
