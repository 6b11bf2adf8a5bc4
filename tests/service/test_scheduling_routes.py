"""Scheduling's HTTP routes over the in-memory twin: precise 4xx for bad bookings, and each
command's event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import Topic
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.scheduling import main
from tests.support.events import approved, stamp
from tests.support.memory import MemoryDatabase
from tests.support.running import auth

NY = ZoneInfo("America/New_York")
SETTINGS = Settings().for_service("scheduling")


def next_weekday_at(weekday: int, hour: int, minute: int = 0, weeks: int = 3) -> str:
    """Weeks ahead, past any course the approval booked nearby, on a seed-open weekday."""
    today = datetime.now(NY).date() + timedelta(weeks=weeks)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(UTC).isoformat()


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, MemoryDatabase]]:
    db = MemoryDatabase()
    app = main.create_app(SETTINGS, db=cast(Any, db))
    broker: KafkaBroker = app._brokers[0]  # type: ignore[assignment]
    async with TestKafkaBroker(broker) as test_broker:
        for n, pid in enumerate(("pat-r1", "pat-r2")):
            decision = approved(pid, s=stamp(now=datetime.now(UTC), seed=5000 + 100 * n))
            await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            yield client, db


def book(client: httpx.AsyncClient, pid: str, role: Role = Role.NURSE, **body: Any) -> Any:
    return client.post(
        f"/patients/{pid}/appointments",
        headers=auth(SETTINGS, role),
        json={"kind": "dosing", **body},
    )


async def test_bad_bookings_get_precise_4xx(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = api
    cases: dict[str, dict[str, Any]] = {
        "SlotInPast": {"starts_at": "2020-01-06T14:00:00+00:00"},
        "OutsideSiteHours": {"starts_at": next_weekday_at(0, 17)},
        "SiteClosed": {"starts_at": next_weekday_at(5, 10)},
        "NotOnGrid": {"starts_at": next_weekday_at(0, 9, 7)},
        "UnknownProvider": {"starts_at": next_weekday_at(0, 9), "provider_id": "rn-ghost"},
        "ProviderNotQualified": {"starts_at": next_weekday_at(0, 9), "provider_id": "th-north-1"},
        "ProviderUnavailable": {"starts_at": next_weekday_at(0, 9), "provider_id": "rn-north-2"},
        "UnknownChair": {"starts_at": next_weekday_at(0, 9), "chair_id": "chair-ghost"},
    }
    for error, body in cases.items():
        response = await book(client, "pat-r1", Role.NURSE, **body)
        assert (response.status_code, response.json()["error"]) == (422, error), body
    unknown = await book(client, "pat-nobody", starts_at=next_weekday_at(0, 9))
    assert unknown.status_code == 404
    missing = await client.post(
        "/patients/pat-r1/appointments", headers=auth(SETTINGS, Role.NURSE), json={"kind": "dosing"}
    )
    assert missing.status_code == 422
    coach = await book(client, "pat-r1", Role.COACH, starts_at=next_weekday_at(0, 9))
    assert coach.status_code == 403


async def test_a_taken_chair_is_a_409_and_reschedule_cancel_emit_their_events(
    api: tuple[httpx.AsyncClient, MemoryDatabase],
) -> None:
    client, db = api
    at = next_weekday_at(2, 9, weeks=6)
    first = await book(client, "pat-r1", starts_at=at, chair_id="north-chair-1")
    assert first.status_code == 201, first.text
    taken = await book(client, "pat-r2", starts_at=at, chair_id="north-chair-1")
    assert (taken.status_code, taken.json()["error"]) == (409, "SlotTaken")
    apt = first.json()["appointment_id"]
    headers = auth(SETTINGS, Role.NURSE)
    moved = await client.post(
        f"/patients/pat-r1/appointments/{apt}/reschedule",
        headers=headers,
        json={"starts_at": next_weekday_at(2, 9, 30, weeks=6), "reason": "patient asked"},
    )
    assert moved.status_code == 200, moved.text
    again = await book(client, "pat-r2", starts_at=at, chair_id="north-chair-1")
    assert again.status_code == 409, "the moved booking overlaps 09:30-12:00"
    early = await client.post(f"/patients/pat-r1/appointments/{apt}/no-show", headers=headers)
    assert (early.status_code, early.json()["error"]) == (409, "NoShowBeforeStart")
    cancelled = await client.post(
        f"/patients/pat-r1/appointments/{apt}/cancel", headers=headers, json={"reason": "travel"}
    )
    assert cancelled.json()["status"] == "cancelled"
    freed = await book(client, "pat-r2", starts_at=at, chair_id="north-chair-1")
    assert freed.status_code == 201, "cancelling released the chair"
    outbox = [e["event_type"] for e in db["courses"].docs["pat-r1"]["outbox"]]
    assert outbox[-3:] == ["AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled"]


async def test_an_esketamine_course_cannot_move_to_a_site_without_rems(
    api: tuple[httpx.AsyncClient, Any],
) -> None:
    client, _ = api
    response = await client.post(
        "/patients/pat-r1/course/transfer",
        headers=auth(SETTINGS, Role.SITE_ADMIN),
        json={"site_id": "site-south", "reason": "moved house"},
    )
    assert (response.status_code, response.json()["error"]) == (409, "SiteNotRemsCertified")


async def test_availability_lists_free_slots_and_site_admins_manage_the_network(
    api: tuple[httpx.AsyncClient, Any],
) -> None:
    client, _ = api
    free = await client.get(
        "/sites/site-north/availability",
        params={"kind": "dosing", "days": 3},
        headers=auth(SETTINGS, Role.INTAKE_COORDINATOR),
    )
    assert free.status_code == 200
    assert free.json()["slots"]
    network = (await client.get("/admin/network", headers=auth(SETTINGS, Role.SITE_ADMIN))).json()
    north = next(s for s in network["sites"] if s["site_id"] == "site-north")
    north["rems_certified"] = False
    nurse = await client.put(
        "/admin/sites/site-north", json=north, headers=auth(SETTINGS, Role.NURSE)
    )
    assert nurse.status_code == 403
    other = await client.put(
        "/admin/sites/site-north",
        json=north,
        headers=auth(SETTINGS, Role.SITE_ADMIN, sites="site-south"),
    )
    assert other.status_code == 403
    admin = await client.put(
        "/admin/sites/site-north", json=north, headers=auth(SETTINGS, Role.SITE_ADMIN)
    )
    assert admin.status_code == 200
    blocked = await book(client, "pat-r1", starts_at=next_weekday_at(0, 9))
    assert (blocked.status_code, blocked.json()["error"]) == (409, "SiteNotRemsCertified")
