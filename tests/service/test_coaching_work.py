"""Site lead view, reassignment, escalation sweeps and integration sessions over HTTP and the
in-memory twin."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from contracts import Topic
from contracts.envelope import stable_id
from contracts.session import SessionDischarged
from contracts.vocabulary import TaskKind
from services.runtime.auth import Role
from tests.service.test_coaching_routes import NOW, Harness
from tests.support.memory import MemoryDatabase
from tests.unit.coaching.builders import DISCHARGED_AT, discharged

CHECK_IN_DUE = DISCHARGED_AT + timedelta(hours=24)


@pytest.fixture
def harness() -> Harness:
    return Harness()


def outbox(harness: Harness, event_type: str) -> list[dict[str, Any]]:
    return [
        json.loads(entry["value"])
        for doc in harness.collection.docs.values()
        for entry in doc.get("outbox", ())
        if entry["event_type"] == event_type
    ]


@pytest.mark.parametrize(
    ("subject", "role", "sites", "status"),
    [
        ("lead-north", Role.COACH, ("site-north",), 200),
        ("coach-ana", Role.COACH, ("site-north",), 403),
        ("lead-north", Role.COACH, ("site-south",), 403),
        ("admin-n", Role.SITE_ADMIN, ("site-north",), 200),
        ("admin-s", Role.SITE_ADMIN, ("site-south",), 403),
        ("ops-1", Role.OPS, ("*",), 200),
    ],
)
async def test_who_sees_the_whole_site(
    harness: Harness, subject: str, role: Role, sites: tuple[str, ...], status: int
) -> None:
    await harness.discharge("pat-1")
    await harness.discharge("pat-2", 2)
    response = harness.http.get(
        "/sites/site-north/tasks", headers=harness.headers(subject, role, sites)
    )
    assert response.status_code == status
    if status == 200:
        tasks = response.json()
        assert {t["coach_id"] for t in tasks} == {"coach-ana", "coach-ben"}
        assert [t["due_at"] for t in tasks] == sorted(t["due_at"] for t in tasks)


async def test_the_site_lead_reads_a_coach_queue_of_their_site(harness: Harness) -> None:
    await harness.discharge("pat-1")
    lead = harness.coach("lead-north")
    assert harness.http.get("/coaches/coach-ana/tasks", headers=lead).status_code == 200
    other = harness.headers("lead-south", Role.COACH, ("site-south",))
    assert harness.http.get("/coaches/coach-ana/tasks", headers=other).status_code == 403


async def test_a_departed_coach_s_patients_and_open_tasks_move_to_the_other_coach(
    harness: Harness,
) -> None:
    for n, patient in enumerate(("pat-1", "pat-2", "pat-3"), start=1):
        await harness.discharge(patient, n)
    ana_before = harness.queue("coach-ana")
    admin = harness.headers("admin-n", Role.SITE_ADMIN, ("site-north",))
    url = "/sites/site-north/coaches/coach-ana/availability"
    assert (
        harness.http.put(
            url, json={"status": "left"}, headers=harness.coach("coach-ana")
        ).status_code
        == 403
    )
    response = harness.http.put(url, json={"status": "left"}, headers=admin)
    assert response.status_code == 200, response.text
    moved = response.json()["moved"]
    assert {(m["patient_id"], m["coach_id"]) for m in moved} == {
        ("pat-1", "coach-ben"),
        ("pat-3", "coach-ben"),
    }
    assert harness.queue("coach-ana") == []
    ben = {t["task_id"] for t in harness.queue("coach-ben")}
    assert {t["task_id"] for t in ana_before} <= ben
    assigned = [e for e in outbox(harness, "CoachAssigned") if e["reason"] == "coach_left"]
    assert len(assigned) == 2
    assert {e["previous_coach_id"] for e in assigned} == {"coach-ana"}
    again = harness.http.put(url, json={"status": "left"}, headers=admin)
    assert again.json()["moved"] == []
    await harness.discharge("pat-4", 4)
    assert harness.collection.docs["pat-4"]["coach_id"] == "coach-ben", "no new patients"


async def test_an_absence_ends_and_the_coach_takes_new_patients_again(harness: Harness) -> None:
    admin = harness.headers("admin-n", Role.SITE_ADMIN, ("site-north",))
    url = "/sites/site-north/coaches/coach-ana/availability"
    until = (NOW + timedelta(days=1)).isoformat()
    body = {"status": "absent", "until": until}
    assert harness.http.put(url, json=body, headers=admin).status_code == 200
    await harness.discharge("pat-1")
    assert harness.collection.docs["pat-1"]["coach_id"] == "coach-ben"
    harness.now = NOW + timedelta(days=2)
    await harness.discharge("pat-2", 2)
    assert harness.collection.docs["pat-2"]["coach_id"] == "coach-ana"
    bad = harness.http.put(url, json={"status": "left", "until": until}, headers=admin)
    assert bad.status_code == 422
    unknown = "/sites/site-north/coaches/coach-cy/availability"
    assert harness.http.put(unknown, json={"status": "left"}, headers=admin).status_code == 404


async def test_two_sweepers_fire_overdue_and_escalation_once_each() -> None:
    db = MemoryDatabase(interleave=True)
    first, second = Harness(db), Harness(db)
    await first.discharge("pat-1")
    overdue_at = CHECK_IN_DUE + timedelta(minutes=5)
    fired = await asyncio.gather(first.sweep_overdue(overdue_at), second.sweep_overdue(overdue_at))
    assert sorted(fired) == [0, 1]
    escalate_at = CHECK_IN_DUE + timedelta(hours=24, minutes=5)
    for _ in range(3):
        await asyncio.gather(first.sweep_overdue(escalate_at), second.sweep_overdue(escalate_at))
    events = outbox(first, "FollowUpTaskOverdue")
    check_in = [e for e in events if e["kind"] == TaskKind.COACH_CHECK_IN]
    assert [e["escalated_to_site_lead"] for e in check_in] == [False, True]
    task_id = check_in[0]["task_id"]
    assert [e["event_id"] for e in check_in] == [
        str(stable_id(task_id, "overdue")),
        str(stable_id(task_id, "escalated")),
    ]
    assert check_in[1]["site_lead_id"] == "lead-north"
    escalated = first.http.get(
        "/sites/site-north/tasks?escalated=true", headers=first.coach("lead-north")
    ).json()
    assert [t["task_id"] for t in escalated] == [task_id]


async def test_a_therapist_records_an_integration_session(harness: Harness) -> None:
    await harness.discharge("pat-1")
    url = "/patients/pat-1/integration-sessions/int-1"
    body = {"status": "completed", "session_id": "ses-1", "note": "private reflections"}
    refused = harness.http.put(url, json=body, headers=harness.coach("coach-ana"))
    assert refused.status_code == 403
    therapist = harness.headers("ther-1", Role.THERAPIST, ("site-north",))
    response = harness.http.put(url, json=body, headers=therapist)
    assert response.status_code == 200, response.text
    assert response.json()["events"] == ["IntegrationSessionRecorded", "FollowUpTaskCompleted"]
    assert harness.http.put(url, json=body, headers=therapist).json()["events"] == []
    kinds = {t["kind"] for t in harness.queue("coach-ana")}
    assert TaskKind.INTEGRATION_BOOKING not in kinds
    values = "".join(e["value"] for e in harness.collection.docs["pat-1"]["outbox"])
    assert "private" not in values
    elsewhere = harness.headers("ther-2", Role.THERAPIST, ("site-south",))
    assert harness.http.put(url, json=body, headers=elsewhere).status_code == 404


async def test_an_integration_session_before_the_dose_it_integrates_is_a_422_naming_it(
    harness: Harness,
) -> None:
    dosed_at = DISCHARGED_AT - timedelta(hours=2)
    await harness.handlers[Topic.SESSION][SessionDischarged](
        discharged(1, patient_id="pat-1", dosed_at=dosed_at)
    )
    url = "/patients/pat-1/integration-sessions/int-1"
    early = dosed_at - timedelta(hours=1)
    body = {"status": "completed", "session_id": "ses-1", "held_at": early.isoformat()}
    therapist = harness.headers("ther-1", Role.THERAPIST, ("site-north",))
    refused = harness.http.put(url, json=body, headers=therapist)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["error"] == "IntegrationSessionBeforeDoseError"
    assert refused.json()["reasons"] == [
        f"held_at {early.isoformat()} precedes the dose at {dosed_at.isoformat()} it integrates"
    ]
    assert outbox(harness, "IntegrationSessionRecorded") == []
