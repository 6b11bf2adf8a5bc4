"""Scheduling's HTTP routes over the in-memory twin: precise 4xx for bad bookings, and each
command's event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pymongo.errors import ConnectionFailure

from contracts import Topic
from contracts.session import SessionDischarged
from contracts.vocabulary import AppointmentKind, CoursePhase, Protocol
from harness.events import approved, stamp
from harness.running import auth
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.scheduling import main
from services.scheduling.course import Course, CourseStatus
from tests.support.memory import MemoryDatabase

NY = ZoneInfo("America/New_York")
SETTINGS = Settings().for_service("scheduling")
PRESCRIBER = "dr-north-1"
ADMIN = "admin-north"
World = tuple[httpx.AsyncClient, MemoryDatabase, KafkaBroker]


def next_weekday_at(weekday: int, hour: int, minute: int = 0, weeks: int = 3) -> str:
    """Weeks ahead, past any course the approval booked nearby, on a seed-open weekday."""
    today = datetime.now(NY).date() + timedelta(weeks=weeks)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(UTC).isoformat()


async def approve(
    broker: KafkaBroker,
    pid: str,
    seed: int,
    site_id: str = "site-north",
    protocol: Protocol = Protocol.ESKETAMINE_TRD,
) -> None:
    """An approval of two planned doses, as intake publishes it."""
    decision = approved(pid, site_id, stamp(now=datetime.now(UTC), seed=seed), protocol)
    await broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    db = MemoryDatabase()
    app = main.create_app(SETTINGS, db=cast(Any, db))
    broker: KafkaBroker = app._brokers[0]  # type: ignore[assignment]
    async with TestKafkaBroker(broker) as test_broker:
        for n, pid in enumerate(("pat-r1", "pat-r2")):
            await approve(test_broker, pid, seed=5000 + 100 * n)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            yield client, db, test_broker


@pytest.fixture
def api(world: World) -> tuple[httpx.AsyncClient, MemoryDatabase]:
    return world[0], world[1]


def book(client: httpx.AsyncClient, pid: str, role: Role = Role.NURSE, **body: Any) -> Any:
    return client.post(
        f"/patients/{pid}/appointments",
        headers=auth(SETTINGS, role),
        json={"kind": "dosing", **body},
    )


def extend(
    client: httpx.AsyncClient,
    pid: str,
    planned: int,
    role: Role = Role.PSYCHIATRIST,
    sites: str = "*",
) -> Any:
    return client.post(
        f"/patients/{pid}/course/extend",
        headers=auth(SETTINGS, role, PRESCRIBER, sites),
        json={"planned_doses": planned, "reason": "partial response"},
    )


def course_of(db: MemoryDatabase, pid: str) -> Course:
    return Course.model_validate(db["courses"].docs[pid]["state"])


def told(db: MemoryDatabase, pid: str, event_type: str) -> list[dict[str, Any]]:
    """The events of one type in the patient's course outbox, as published."""
    outbox = db["courses"].docs[pid]["outbox"]
    return [json.loads(e["value"]) for e in outbox if e["event_type"] == event_type]


async def discharge_every_dose(broker: KafkaBroker, db: MemoryDatabase, pid: str) -> None:
    """The session service discharges each booked dose in turn: the course completes."""
    course = course_of(db, pid)
    assert course.protocol is not None
    for n, dose in enumerate(a for a in course.appointments if a.kind is AppointmentKind.DOSING):
        assert dose.dose_number is not None
        discharged = SessionDischarged(
            **stamp("session", now=datetime.now(UTC), seed=9000 + n).envelope(pid, course.site_id),
            session_id=f"ses-{dose.appointment_id}",
            appointment_id=dose.appointment_id,
            protocol=course.protocol,
            dose_number=dose.dose_number,
            course_phase=CoursePhase.INDUCTION,
            monitoring_minutes=120,
        )
        await broker.publish(discharged.model_dump(mode="json"), Topic.SESSION.value)
    assert course_of(db, pid).status is CourseStatus.COMPLETED


async def site_body(client: httpx.AsyncClient, site_id: str) -> dict[str, Any]:
    network = (await client.get("/admin/network", headers=auth(SETTINGS, Role.SITE_ADMIN))).json()
    found: dict[str, Any] = next(s for s in network["sites"] if s["site_id"] == site_id)
    return found


async def certify(client: httpx.AsyncClient, site_id: str, certified: bool) -> httpx.Response:
    body = {**await site_body(client, site_id), "rems_certified": certified}
    headers = auth(SETTINGS, Role.SITE_ADMIN, ADMIN)
    return await client.put(f"/admin/sites/{site_id}", json=body, headers=headers)


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
    for pid in ("pat-r1", "pat-r2"):
        assert (await extend(client, pid, 4)).status_code == 200, "a third dose needs a prescriber"
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


async def test_a_dose_past_the_plan_is_booked_only_after_a_prescriber_extends_the_course(
    api: tuple[httpx.AsyncClient, MemoryDatabase],
) -> None:
    client, db = api
    at = next_weekday_at(3, 9, weeks=7)
    beyond = await book(client, "pat-r1", starts_at=at)
    assert (beyond.status_code, beyond.json()["error"]) == (409, "BeyondPlannedDoses")
    assert beyond.json()["reasons"] == [
        "dose 3; the course plans 2 doses; a prescriber extends the course"
    ]
    assert course_of(db, "pat-r1").planned_doses == 2
    nurse = await extend(client, "pat-r1", 3, role=Role.NURSE)
    assert nurse.status_code == 403
    elsewhere = await extend(client, "pat-r1", 3, sites="site-south")
    assert elsewhere.status_code == 404
    same = await extend(client, "pat-r1", 2)
    assert (same.status_code, same.json()["error"]) == (409, "ExtensionNotAbovePlan")
    invalid = await client.post(
        "/patients/pat-r1/course/extend",
        headers=auth(SETTINGS, Role.PSYCHIATRIST, PRESCRIBER),
        json={"planned_doses": 53, "reason": ""},
    )
    assert invalid.status_code == 422
    fields = {reason.split(":")[0] for reason in invalid.json()["reasons"]}
    assert fields == {"body.planned_doses", "body.reason"}
    extended = await extend(client, "pat-r1", 3)
    assert extended.status_code == 200
    assert (extended.json()["planned_doses"], extended.json()["status"]) == (3, "active")
    (event,) = told(db, "pat-r1", "CourseExtended")
    assert (event["planned_doses"], event["previous_planned_doses"]) == (3, 2)
    assert (event["extended_by"], event["reason"]) == (PRESCRIBER, "partial response")
    booked = await book(client, "pat-r1", starts_at=at)
    assert (booked.status_code, booked.json()["dose_number"]) == (201, 3)


async def test_a_completed_course_books_therapy_but_no_dose_until_a_prescriber_reopens_it(
    world: World,
) -> None:
    client, db, broker = world
    await discharge_every_dose(broker, db, "pat-r2")
    dose = await book(client, "pat-r2", starts_at=next_weekday_at(3, 9, weeks=7), dose_number=2)
    assert (dose.status_code, dose.json()["error"]) == (409, "CourseCompleted")
    therapy = await book(
        client, "pat-r2", kind="integration", starts_at=next_weekday_at(3, 9, weeks=7)
    )
    assert therapy.status_code == 201, "integration after a completed course goes on"
    assert course_of(db, "pat-r2").status is CourseStatus.COMPLETED
    reopened = await extend(client, "pat-r2", 3)
    assert (reopened.json()["planned_doses"], reopened.json()["status"]) == (3, "active")
    dose = await book(client, "pat-r2", starts_at=next_weekday_at(3, 13, weeks=7))
    assert (dose.status_code, dose.json()["dose_number"]) == (201, 3)


async def test_losing_rems_certification_tells_each_active_esketamine_patient_there_once(
    world: World,
) -> None:
    client, db, broker = world
    assert (await certify(client, "site-south", True)).status_code == 200
    await approve(broker, "pat-iv", seed=6000, protocol=Protocol.IV_KETAMINE_SERIES)
    await approve(broker, "pat-done", seed=6100)
    await discharge_every_dose(broker, db, "pat-done")
    await approve(broker, "pat-south", seed=6200, site_id="site-south")
    patients = ("pat-r1", "pat-r2", "pat-iv", "pat-done", "pat-south")
    statuses = {pid: course_of(db, pid).status.value for pid in patients}
    assert statuses == {**dict.fromkeys(patients, "active"), "pat-done": "completed"}
    for _ in range(2):
        stored = await certify(client, "site-north", False)
        assert (stored.status_code, stored.json()["rems_certified"]) == (200, False)
    notices = {pid: told(db, pid, "SiteCertificationChanged") for pid in patients}
    assert {pid: len(found) for pid, found in notices.items()} == {
        "pat-r1": 1,
        "pat-r2": 1,
        "pat-iv": 0,
        "pat-done": 0,
        "pat-south": 0,
    }
    for pid in ("pat-r1", "pat-r2"):
        (notice,) = notices[pid]
        assert (notice["patient_id"], notice["site_id"]) == (pid, "site-north")
        assert (notice["rems_certified"], notice["changed_by"]) == (False, ADMIN)


async def test_a_certification_change_retried_after_a_failure_tells_nobody_twice(
    api: tuple[httpx.AsyncClient, MemoryDatabase],
) -> None:
    client, db = api
    network = db["network"]
    insert = network.insert_one
    failures = [ConnectionFailure("database unreachable")]

    async def insert_failing_once(doc: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()
        await insert(doc)

    network.insert_one = insert_failing_once  # type: ignore[method-assign]
    failed = await certify(client, "site-north", False)
    assert failed.status_code == 503
    assert "site:site-north" not in network.docs
    retried = await certify(client, "site-north", False)
    assert retried.status_code == 200
    assert network.docs["site:site-north"]["body"]["rems_certified"] is False
    for pid in ("pat-r1", "pat-r2"):
        assert len(told(db, pid, "SiteCertificationChanged")) == 1
