"""Dashboards, coach queues and patient lists at a large site read summaries, not journeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx

from services.journey import queries
from services.journey.domain import Appointment, Journey, Task
from services.journey.handlers import routes
from services.journey.projections import SUMMARY, Projections, write_summary
from services.runtime.auth import Role, mint_token
from services.runtime.network import Network, Site
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.support.memory import MemoryDatabase

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SITE = Site(site_id="site-north", name="North", time_zone="UTC", rems_certified=True,
            coaches=("coach-ana", "coach-ben"),
            site_lead="lead-north")  # fmt: skip
PATIENTS = 10_000
PHASES = ("induction", "maintenance", "awaiting_review", "preparation")


def synthetic(n: int) -> Journey:
    """Patient n: every 500th has a task past due, every 1000th a dosing chair today; the rest
    have tasks due next week and appointments in other weeks (synthetic ids only)."""
    coach = ("coach-ana", "coach-ben")[n % 2]
    due = NOW - timedelta(hours=1) if n % 500 == 0 else NOW + timedelta(days=7)
    day = NOW + timedelta(hours=1) if n % 1000 == 0 else NOW + timedelta(days=14 + n % 20)
    return Journey(
        patient_id=f"pat-{n:05d}", site_id=SITE.site_id, phase=PHASES[n % 4], coach_id=coach,
        doses_held=n % 3, no_shows=int(n % 7 == 0), open_risk_flags=["f"] if n % 11 == 0 else [],
        open_tasks={f"t-{n}": Task(task_id=f"t-{n}", kind="coach_check_in", coach_id=coach,
                                    due_at=due, overdue=n % 900 == 0)},
        appointments={
            f"a-{n}": Appointment(appointment_id=f"a-{n}", kind="dosing", starts_at=day,
                                  dose_number=1),
            f"b-{n}": Appointment(appointment_id=f"b-{n}", kind="dosing",
                                  starts_at=NOW - timedelta(days=30), dose_number=1),
        },
    )  # fmt: skip


async def seeded() -> tuple[MemoryDatabase, list[Journey]]:
    db = MemoryDatabase()
    journeys = [synthetic(n) for n in range(PATIENTS)]
    for journey in journeys[:-1]:
        state = journey.model_dump(mode="json")
        db["journeys"].docs[journey.patient_id] = {"_id": journey.patient_id, "state": state}
        db["journeys" + SUMMARY].docs[journey.patient_id] = queries.summary_of(journey)
    last = journeys[-1]
    await db["journeys"].insert_one({"_id": last.patient_id, "state": last.model_dump(mode="json")})
    await write_summary(cast(Any, db["journeys" + SUMMARY]), queries.summary_of(last))
    db["journeys"].documents_read = db["journeys" + SUMMARY].documents_read = 0
    return db, journeys


def client(db: MemoryDatabase) -> httpx.AsyncClient:
    service = Service.create("journey", Settings().for_service("journey"), title="t",
                             description="d", db=cast(Any, db))  # fmt: skip
    service.clock = lambda: NOW
    service.http.include_router(routes(service, Projections(service.db), Network(sites=(SITE,))))
    transport = httpx.ASGITransport(app=service.http)
    return httpx.AsyncClient(transport=transport, base_url="http://journey")


def bearer(subject: str, role: Role) -> dict[str, str]:
    token = mint_token(Settings(), subject, role, [SITE.site_id], now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


async def test_a_dashboard_at_a_site_of_10000_patients_reads_no_journey() -> None:
    db, journeys = await seeded()
    async with client(db) as http:
        response = await http.get("/sites/site-north/dashboard", headers=bearer("a", Role.OPS))
    assert response.status_code == 200
    board = response.json()
    assert board == queries.dashboard(SITE.site_id, journeys, NOW, SITE.zone)
    assert board["patients"] == PATIENTS
    assert board["overdue_tasks"] == len({n for n in range(PATIENTS) if n % 500 == 0
                                          or n % 900 == 0})  # fmt: skip
    assert len(board["todays_dosing"]) == PATIENTS // 1000
    assert db["journeys"].documents_read == 0, "no journey document was read"
    summaries_read = db["journeys" + SUMMARY].documents_read
    late = [n for n in range(PATIENTS) if n % 500 == 0 and n % 900 != 0]  # not yet flagged
    assert summaries_read == len(late) + PATIENTS // 1000, (
        "only the summaries with a task past due or a chair today leave the database"
    )


async def test_a_coach_queue_and_the_patient_list_read_no_journey() -> None:
    db, journeys = await seeded()
    async with client(db) as http:
        queue = await http.get("/coaches/coach-ana/queue", headers=bearer("coach-ana", Role.COACH))
        listed = await http.get("/patients", params={"site_id": "site-north", "limit": 20},
                                headers=bearer("a", Role.OPS))  # fmt: skip
    assert queue.status_code == listed.status_code == 200
    assert queue.json()["tasks"] == queries.coach_queue("coach-ana", journeys, NOW)
    assert len(queue.json()["tasks"]) == PATIENTS // 2
    assert listed.json()["total"] == PATIENTS
    assert [i["patient_id"] for i in listed.json()["items"]] == [f"pat-{n:05d}" for n in range(20)]
    assert db["journeys"].documents_read == 0, "no journey document was read"
