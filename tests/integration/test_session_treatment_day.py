"""The treatment day on the real broker and database: from a booked appointment to discharge
to coaching's follow-up tasks, and the 40-minute BP clock fired once by two instances."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import EventBase, Topic, stable_id
from contracts.intake import ConsentRecorded, EligibilityDecided
from contracts.scheduling import AppointmentBooked
from contracts.vocabulary import AppointmentKind, ConsentKind, CoursePhase, Decision, Protocol
from harness.running import auth, events_of, eventually, produce, read_topic, running
from services.coaching.main import create_app as coaching_app
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.session.main import create_app as session_app

pytestmark = pytest.mark.infra

SITE = "site-north"
READY = {
    "sedation_resolved": True,
    "dissociation_resolved": True,
    "respiratory_ok": True,
    "vitals_acceptable": True,
    "transport_confirmed": True,
}


def envelope(pid: str, producer: str) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC) - timedelta(days=1),
        "patient_id": pid,
        "site_id": SITE,
        "correlation_id": uuid.uuid4(),
        "producer": producer,
    }


async def publish(settings: Settings, topic: Topic, event: EventBase) -> None:
    await produce(
        settings.kafka_bootstrap_servers,
        settings.kafka_topic_prefix + topic,
        event.to_bytes(),
        event.patient_id,
    )


async def enrolled_and_booked(settings: Settings, pid: str, appointment: str) -> None:
    """What intake and scheduling would have published a day before: approval, treatment
    consent and REMS enrolment, then the booking."""
    now = datetime.now(UTC)
    approved = EligibilityDecided(
        **envelope(pid, "intake"),
        decision=Decision.APPROVED,
        decided_by="dr-int",
        protocol=Protocol.ESKETAMINE_TRD,
    )
    consents = [
        ConsentRecorded(**envelope(pid, "intake"), consent=kind, given=True)
        for kind in (ConsentKind.TREATMENT, ConsentKind.REMS_ENROLMENT)
    ]
    booked = AppointmentBooked(
        **envelope(pid, "scheduling"),
        appointment_id=appointment,
        kind=AppointmentKind.DOSING,
        starts_at=now - timedelta(hours=3),
        ends_at=now,
        dose_number=1,
        protocol=Protocol.ESKETAMINE_TRD,
        course_phase=CoursePhase.INDUCTION,
    )
    for fact in (approved, *consents):
        await publish(settings, Topic.INTAKE, fact)
    await publish(settings, Topic.SCHEDULING, booked)


Chart = Callable[[str, dict[str, Any], float], Awaitable[httpx.Response]]


def charting(client: httpx.AsyncClient, settings: Settings, path: str, t0: datetime) -> Chart:
    """POST `body` to `path/step`, observed `minutes` after t0 (retroactive charting)."""
    headers = auth(settings, Role.NURSE, subject="rn-int", sites=SITE)

    async def chart(step: str, body: dict[str, Any], minutes: float) -> httpx.Response:
        observed = {"observed_at": (t0 + timedelta(minutes=minutes)).isoformat()}
        return await client.post(f"{path}{step}", json=body | observed, headers=headers)

    return chart


async def check_in(chart: Chart) -> str:
    async def attempt() -> str | None:
        response = await chart("", {"appointment_id": APPOINTMENT}, 0)
        return str(response.json()["session_id"]) if response.status_code == 201 else None

    session_id: str = await eventually(attempt, timeout=60)
    return session_id


APPOINTMENT = "apt-int-1"


def vitals(systolic: int, diastolic: int) -> dict[str, Any]:
    return {"systolic": systolic, "diastolic": diastolic, "heart_rate": 72, "spo2": 98}


async def test_a_booked_appointment_runs_to_discharge_and_coaching_follow_up(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    t0 = datetime.now(UTC) - timedelta(minutes=150)
    started = time.monotonic()
    async with (
        running(session_app(settings.for_service("session"))) as session,
        running(coaching_app(settings.for_service("coaching"))),
    ):
        await enrolled_and_booked(settings, pid, APPOINTMENT)
        path = f"/patients/{pid}/sessions"
        session_id = await check_in(charting(session, settings, path, t0))
        chart = charting(session, settings, f"{path}/{session_id}/", t0)
        assert (await chart("vitals", vitals(128, 80), 5)).status_code == 201
        dose = await chart("dose", {"dose_mg": 56, "lot_number": "LOT-INT"}, 10)
        assert dose.status_code == 201, dose.text
        assert dose.json()["dose"]["devices"] == 2
        assert (await chart("vitals", vitals(134, 84), 50)).status_code == 201
        assert (await chart("vitals", vitals(130, 82), 10 + 110)).status_code == 201
        early = await chart("discharge", READY, 10 + 119)
        assert early.json()["reasons"] == ["monitoring_time: 119 of 120 min"]
        done = await chart("discharge", READY, 10 + 120)
        assert done.status_code == 200, done.text

        coaching_topic = settings.kafka_topic_prefix + Topic.COACHING
        follow_up = events_of(
            await read_topic(settings.kafka_bootstrap_servers, coaching_topic, pid, want=6)
        )
    elapsed = time.monotonic() - started
    tasks = [e for e in follow_up if e["event_type"] == "FollowUpTaskCreated"]
    assert {t["kind"] for t in tasks} >= {"integration_booking", "coach_check_in"}
    assert {t["session_id"] for t in tasks} == {session_id}
    session_events = events_of(
        await read_topic(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic_prefix + Topic.SESSION,
            pid,
            want=7,
        )
    )
    discharged = next(e for e in session_events if e["event_type"] == "SessionDischarged")
    assert (discharged["dose_mg"], discharged["monitoring_minutes"]) == (56.0, 120)
    assert discharged["monitoring_form_due_by"] is not None
    print(f"\n[measured] booked -> coaching follow-up tasks in {elapsed:.1f}s")


async def test_two_session_instances_fire_the_overdue_40_minute_bp_once(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    t0 = datetime.now(UTC) - timedelta(minutes=90)
    fast = settings.model_copy(update={"sweep_interval_s": 0.1})
    async with (
        running(session_app(fast.for_service("session"))) as first,
        running(session_app(fast.for_service("session"))),
    ):
        await enrolled_and_booked(settings, pid, APPOINTMENT)
        path = f"/patients/{pid}/sessions"
        session_id = await check_in(charting(first, settings, path, t0))
        chart = charting(first, settings, f"{path}/{session_id}/", t0)
        await chart("vitals", vitals(128, 80), 5)
        assert (await chart("dose", {"dose_mg": 56, "lot_number": "LOT-INT"}, 10)).is_success
        headers = auth(settings, Role.NURSE, sites=SITE)

        async def alerted() -> bool:
            view = await first.get(f"{path}/{session_id}", headers=headers)
            return bool(view.json()["open_alerts"] == ["bp_40min"])

        await eventually(alerted, timeout=30)
        await asyncio.sleep(2.0)  # both sweepers keep sweeping at 0.1 s meanwhile
        messages = await read_topic(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic_prefix + Topic.SESSION,
            pid,
            want=99,
            timeout=8,
        )
    overdue = [e for e in events_of(messages) if e["event_type"] == "MonitoringCheckOverdue"]
    print(f"\n[measured] MonitoringCheckOverdue copies on the topic: {len(overdue)}")
    assert {e["event_id"] for e in overdue} == {str(stable_id(session_id, "bp_40min"))}
    assert overdue[0]["due_at"] == overdue[0]["occurred_at"]
