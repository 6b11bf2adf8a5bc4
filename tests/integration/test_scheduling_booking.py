"""Scheduling on the real broker and database: whole courses from approvals, and no double
booking when many clinicians (on two scheduling instances) race for the last free chair."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts import Topic
from contracts.vocabulary import Decision, Protocol
from harness.events import approved, stamp
from harness.running import auth, events_of, eventually, produce, read_topic, running
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.scheduling.course import Course, CourseStatus
from services.scheduling.main import create_app
from services.scheduling.network import ClinicNetwork, Provider, Site
from services.scheduling.network_store import SchedulingConfig, load_config

pytestmark = pytest.mark.infra
WEEKDAYS = {d: ("08:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")}
ZONE = ZoneInfo("America/New_York")


def one_chair_network() -> SchedulingConfig:
    """One site with one monitoring chair and a nurse who could watch everyone: the chair is
    the last free resource."""
    site = Site.model_validate(
        {
            "site_id": "site-one",
            "name": "One",
            "time_zone": "America/New_York",
            "rems_certified": True,
            "hours": WEEKDAYS,
            "rooms": [
                {"room_id": "one-mon", "kind": "monitoring", "chairs": ["one-chair"]},
                {"room_id": "one-therapy", "kind": "therapy"},
            ],
        }
    )
    nurse = Provider.model_validate(
        {
            "provider_id": "rn-one",
            "role": "nurse",
            "sites": ["site-one"],
            "availability": WEEKDAYS,
            "max_concurrent": 10,
        }
    )
    return SchedulingConfig(network=ClinicNetwork(sites=(site,), providers=(nurse,)))


async def seed_active_course(mongo: Any, settings: Settings, patient_id: str) -> None:
    course = Course(
        course_id=f"crs-{patient_id}",
        patient_id=patient_id,
        site_id="site-one",
        decision=Decision.APPROVED,
        protocol=Protocol.ESKETAMINE_TRD,
        planned_doses=8,
        status=CourseStatus.ACTIVE,
    )
    await mongo[f"{settings.deployment}_scheduling"]["courses"].insert_one(
        {
            "_id": patient_id,
            "version": 1,
            "state": course.model_dump(mode="json"),
            "processed": [],
            "outbox": [],
            "outbox_pending": False,
        }
    )


def next_monday_at_nine() -> datetime:
    today = datetime.now(ZONE).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(9), tzinfo=ZONE).astimezone(UTC)


async def test_parallel_bookings_for_the_last_free_chair_on_two_instances_have_one_winner(
    settings: Settings, mongo: Any
) -> None:
    attempts = 24
    patients = [f"pat-{uuid.uuid4().hex[:10]}" for _ in range(attempts)]
    for pid in patients:
        await seed_active_course(mongo, settings, pid)
    config = one_chair_network()
    scheduling = settings.for_service("scheduling")
    starts_at = next_monday_at_nine().isoformat()
    headers = auth(settings, Role.NURSE)
    async with (
        running(create_app(scheduling, config=config)) as one,
        running(create_app(scheduling, config=config)) as two,
    ):

        async def book(client: httpx.AsyncClient, pid: str) -> httpx.Response:
            return await client.post(
                f"/patients/{pid}/appointments",
                headers=headers,
                json={"kind": "dosing", "starts_at": starts_at},
            )

        responses = await asyncio.gather(
            *(book(one if n % 2 else two, pid) for n, pid in enumerate(patients))
        )
    statuses = sorted(r.status_code for r in responses)
    print(f"\n[concurrency] {attempts} parallel bookings over 2 instances -> {statuses}")
    assert statuses.count(201) == 1
    assert statuses.count(409) == attempts - 1
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {r["error"] for r in refused} == {"SlotTaken"}
    chair = await mongo[f"{settings.deployment}_scheduling"]["reservations"].count_documents(
        {"resource": "chair:one-chair"}
    )
    assert chair == 10, "150 minutes = 10 quarter-hour slots, reserved once"


async def test_an_approval_on_the_broker_books_the_whole_esketamine_course_at_a_rems_site(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:10]}"
    decision = approved(pid, s=stamp(now=datetime.now(UTC), seed=7100))
    decision = decision.model_copy(update={"planned_doses": None})
    config = load_config()
    scheduling = settings.for_service("scheduling")
    async with running(create_app(scheduling, config=config)) as client:
        await produce(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic_prefix + Topic.INTAKE,
            decision.to_bytes(),
            pid,
        )

        async def course() -> Any:
            response = await client.get(
                f"/patients/{pid}/course", headers=auth(settings, Role.NURSE)
            )
            return response.json() if response.status_code == 200 else None

        view = await eventually(course, timeout=60)
        published = events_of(
            await read_topic(
                settings.kafka_bootstrap_servers,
                settings.kafka_topic_prefix + Topic.SCHEDULING,
                pid,
                want=18,
            )
        )
    doses = [a for a in view["appointments"] if a["kind"] == "dosing"]
    assert view["status"] == "active"
    assert [d["dose_number"] for d in doses] == list(range(1, 9))
    certified = {s.site_id for s in config.network.sites if s.rems_certified}
    assert {d["site_id"] for d in doses} <= certified
    assert all(
        {"appointment_id", "kind", "starts_at", "dose_number", "status"} <= set(a)
        for a in view["appointments"]
    )
    assert sum(a["kind"] == "integration" for a in view["appointments"]) == 8
    assert view["appointments"][0]["kind"] == "preparation"
    assert [e["event_type"] for e in published].count("AppointmentBooked") == 17
    assert published[0]["event_type"] == "CourseScheduled"
