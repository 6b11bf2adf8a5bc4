"""Authorisation defects found by outside testing, each pinned by the behaviour it broke:
scope is checked on the stored resource, a coach sees only their own patients within their
token's sites, and an out-of-scope patient answers exactly like an unknown one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from fastapi.testclient import TestClient

from contracts import Topic
from contracts.coaching import CoachAssigned, FollowUpTaskCreated
from contracts.scheduling import AppointmentBooked
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, CoursePhase, Protocol, TaskKind
from harness.events import referred, stamp
from services.coaching.main import create_app as coaching_app
from services.coaching.roster import Roster
from services.journey.handlers import routes as journey_routes
from services.journey.projections import Projections
from services.runtime.auth import Role, mint_token
from services.runtime.network import Network, Site
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.scheduling import main as scheduling
from services.session.main import create_app as session_app
from tests.support import apps
from tests.support.memory import MemoryDatabase

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NETWORK = Network(
    sites=(
        Site(site_id="site-north", name="North", time_zone="UTC", rems_certified=True,
             coaches=("coach-ana", "coach-ben"), site_lead="lead-north"),
        Site(site_id="site-south", name="South", time_zone="UTC", rems_certified=False,
             coaches=("coach-ana", "coach-cy"), site_lead="lead-south"),
    )
)  # fmt: skip


def service(name: str) -> Service:
    built = Service.create(
        name,
        Settings().for_service(name),
        title="t",
        description="d",
        db=cast(Any, MemoryDatabase()),
    )
    built.clock = lambda: NOW
    return built


def bearer(settings: Settings, subject: str, role: Role, *sites: str) -> dict[str, str]:
    token = mint_token(settings, subject, role, sites, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


async def test_a_site_admin_cannot_take_over_another_sites_provider() -> None:
    settings = Settings().for_service("scheduling")
    app = scheduling.create_app(settings, db=cast(Any, MemoryDatabase()))
    provider = {
        "provider_id": "rn-float-1",
        "role": "nurse",
        "availability": {"mon": ["08:00-18:00"]},
    }
    south = bearer(settings, "admin-south", Role.SITE_ADMIN, "site-south")
    north = bearer(settings, "admin-north", Role.SITE_ADMIN, "site-north")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        url = "/admin/providers/rn-float-1"
        created = await client.put(url, json={**provider, "sites": ["site-south"]}, headers=south)
        taken = await client.put(url, json={**provider, "sites": ["site-north"]}, headers=north)
        seeded = await client.put(
            "/admin/providers/rn-north-1",
            json={**provider, "provider_id": "rn-north-1", "sites": ["site-south"]},
            headers=south,
        )
        network = await client.get("/admin/network", headers=bearer(settings, "ops", Role.OPS, "*"))

    assert (created.status_code, taken.status_code, seeded.status_code) == (200, 403, 403)
    stored = {p["provider_id"]: p["sites"] for p in network.json()["providers"]}
    assert (stored["rn-float-1"], stored["rn-north-1"]) == (["site-south"], ["site-north"])


class Journeys:
    """The journey query API over the in-memory twin, fed events directly."""

    def __init__(self) -> None:
        self.service = service("journey")
        self.projections = Projections(self.service.db)
        self.service.http.include_router(journey_routes(self.service, self.projections, NETWORK))
        self.http = TestClient(self.service.http)
        self.seed = 100

    def stamp(self) -> Any:
        self.seed += 100
        return stamp("coaching", now=NOW - timedelta(days=1), seed=self.seed)

    async def patient(self, patient_id: str, site_id: str, coach_id: str) -> None:
        await self.projections.apply(referred(patient_id, site_id, self.stamp()))
        assigned = CoachAssigned(**self.stamp().envelope(patient_id, site_id), coach_id=coach_id)
        await self.projections.apply(assigned)
        task = FollowUpTaskCreated(
            **self.stamp().envelope(patient_id, site_id),
            task_id=f"task-{patient_id}",
            kind=TaskKind.COACH_CHECK_IN,
            coach_id=coach_id,
            due_at=NOW + timedelta(hours=4),
        )
        await self.projections.apply(task)

    def get(self, path: str, headers: dict[str, str], **params: str) -> Any:
        response = self.http.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.status_code
        return response.json()


async def test_a_coach_lists_only_their_own_patients_of_the_site() -> None:
    journeys = Journeys()
    await journeys.patient("pat-1", "site-north", "coach-ana")
    await journeys.patient("pat-2", "site-north", "coach-ben")
    await journeys.patient("pat-3", "site-north", "coach-ben")
    settings = journeys.service.settings

    ana = bearer(settings, "coach-ana", Role.COACH, "site-north")
    nurse = bearer(settings, "nurse-1", Role.NURSE, "site-north")
    coach_view = journeys.get("/patients", ana, site_id="site-north")
    nurse_view = journeys.get("/patients", nurse, site_id="site-north")

    assert (coach_view["total"], [p["patient_id"] for p in coach_view["items"]]) == (1, ["pat-1"])
    assert nurse_view["total"] == 3


async def test_a_coachs_own_queue_holds_only_the_sites_of_their_token() -> None:
    journeys = Journeys()
    await journeys.patient("pat-1", "site-north", "coach-ana")
    await journeys.patient("pat-2", "site-south", "coach-ana")
    settings = journeys.service.settings
    south_only = bearer(settings, "coach-ana", Role.COACH, "site-south")
    queue = journeys.get("/coaches/coach-ana/queue", south_only)["tasks"]
    assert [t["patient_id"] for t in queue] == ["pat-2"]


async def test_staff_read_only_the_queues_of_coaches_at_their_sites() -> None:
    journeys = Journeys()
    await journeys.patient("pat-1", "site-south", "coach-cy")
    nurse = bearer(journeys.service.settings, "nurse-1", Role.NURSE, "site-north")

    answers = [
        journeys.http.get(f"/coaches/{coach}/queue", headers=nurse).status_code
        for coach in ("coach-ben", "coach-cy", "coach-zed")
    ]

    assert answers == [200, 403, 404]


async def test_a_coachs_own_task_list_holds_only_the_sites_of_their_token() -> None:
    coaching = apps.build(
        coaching_app, "coaching", now=NOW, network=NETWORK, roster=Roster()
    ).service
    discharge = SessionDischarged(
        **stamp("session", now=NOW - timedelta(days=1), seed=900).envelope("pat-1", "site-north"),
        session_id="ses-1",
        appointment_id="apt-1",
        protocol=Protocol.ESKETAMINE_TRD,
        dose_number=1,
        course_phase=CoursePhase.INDUCTION,
        monitoring_minutes=120,
    )
    await coaching.subscriptions[Topic.SESSION][SessionDischarged](discharge)
    http = TestClient(coaching.http)
    south = bearer(coaching.settings, "coach-ana", Role.COACH, "site-south")
    tasks = http.get("/coaches/coach-ana/tasks", headers=south)
    north = bearer(coaching.settings, "coach-ana", Role.COACH, "site-north")
    own = http.get("/coaches/coach-ana/tasks", headers=north)

    assert (tasks.status_code, tasks.json()) == (200, [])
    assert own.status_code == 200
    assert {t["patient_id"] for t in own.json()} == {"pat-1"}


async def test_a_nurse_checking_in_another_sites_patient_is_told_only_not_found() -> None:
    session = apps.build(session_app, "session", now=NOW).service
    handlers = session.subscriptions
    booked = AppointmentBooked(
        **stamp("scheduling", now=NOW - timedelta(days=2), seed=700).envelope(
            "pat-south", "site-south"
        ),
        appointment_id="apt-south",
        kind=AppointmentKind.DOSING,
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=3),
        dose_number=1,
        protocol=Protocol.ESKETAMINE_TRD,
        course_phase=CoursePhase.INDUCTION,
    )
    await handlers[Topic.SCHEDULING][AppointmentBooked](booked)
    http = TestClient(session.http)
    north = bearer(session.settings, "nurse-n", Role.NURSE, "site-north")

    def answer(patient: str, appointment: str) -> tuple[int, str]:
        """Status and body, with the ids the caller sent masked."""
        url, body = f"/patients/{patient}/sessions", {"appointment_id": appointment}
        response = http.post(url, json=body, headers=north)
        masked = response.text.replace(patient, "{patient}").replace(appointment, "{apt}")
        return response.status_code, masked

    unknown = answer("pat-unknown", "apt-unknown")
    assert unknown[0] == 404
    assert answer("pat-south", "apt-unbooked") == unknown
    assert answer("pat-south", "apt-south") == unknown
