"""Scheduling's subscribers through FastStream's own test broker, over the in-memory twin."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.message import StreamMessage

from contracts import Topic, dlq
from contracts.coaching import RelapseSuspected
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.vocabulary import Protocol
from harness.events import approved, stamp
from services.runtime.consumer import current_message
from services.runtime.settings import Settings
from services.scheduling import main
from services.scheduling.course import Course
from tests.support.memory import MemoryDatabase


def scheduling() -> tuple[KafkaBroker, MemoryDatabase, list[StreamMessage[Any]]]:
    """The real composition root over the memory twin, plus a tap on the dead-letter topic."""
    db = MemoryDatabase()
    app = main.create_app(Settings().for_service("scheduling"), db=cast(Any, db))
    broker: KafkaBroker = app._brokers[0]  # type: ignore[assignment]
    dead: list[StreamMessage[Any]] = []

    @broker.subscriber(dlq(Topic.INTAKE.value))
    async def tap(body: Any) -> None:
        dead.append(current_message())

    return broker, db, dead


async def test_an_approval_books_the_course_once_even_when_redelivered() -> None:
    broker, db, dead = scheduling()
    now = datetime.now(UTC)
    decision = approved("pat-svc-1", s=stamp(now=now, seed=4000), protocol=Protocol.ESKETAMINE_TRD)
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(2):
            await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
    doc = db["courses"].docs["pat-svc-1"]
    types = [e["event_type"] for e in doc["outbox"]]
    assert types == [CourseScheduled.__name__] + [AppointmentBooked.__name__] * 5
    assert doc["processed"] == [str(decision.event_id)]
    course = Course.model_validate(doc["state"])
    assert [a.kind for a in course.appointments][:2] == ["preparation", "dosing"]
    first = course.dose(1)
    assert first is not None
    assert first.chair_id == "north-chair-1"
    assert db["reservation_intents"].docs == {}, "intent removed after the commit"
    assert {d["patient_id"] for d in db["reservations"].docs.values()} == {"pat-svc-1"}
    assert dead == []


async def test_a_suspected_relapse_proposes_a_booster_once() -> None:
    broker, db, _ = scheduling()
    now = datetime.now(UTC)
    decision = approved("pat-svc-3", s=stamp(now=now, seed=4200))
    relapse = RelapseSuspected(
        **stamp("coaching", now=now, seed=4300).envelope("pat-svc-3", "site-north"),
        total=16,
        best_total=6,
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
        for _ in range(2):
            await test_broker.publish(relapse.model_dump(mode="json"), Topic.COACHING.value)
    course = Course.model_validate(db["courses"].docs["pat-svc-3"]["state"])
    assert [p.kind for p in course.proposals] == ["booster"]
    types = [e["event_type"] for e in db["courses"].docs["pat-svc-3"]["outbox"]]
    assert types.count("BoosterProposed") == 1


async def test_an_off_contract_message_is_dead_lettered_with_its_reason() -> None:
    broker, db, dead = scheduling()
    bad = {**approved("pat-svc-2", s=stamp(seed=4100)).model_dump(mode="json"), "decision": "maybe"}
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(bad, Topic.INTAKE.value)
    assert "pat-svc-2" not in db["courses"].docs
    assert len(dead) == 1
    assert dead[0].headers["dlq.error_class"] == "ValidationError"
    assert dead[0].headers["dlq.error"] == "decision: enum"
    assert json.loads(dead[0].body)["decision"] == "maybe", "original bytes kept for re-drive"


async def test_an_approval_reads_only_the_days_it_books() -> None:
    """DEVDB-5: an approval must not read ~150 days of a site's bookings up front."""
    broker, db, _ = scheduling()
    reservations = db["reservations"]
    read_days: list[str] = []
    find = reservations.find

    def counting_find(query: dict[str, Any], projection: Any = None) -> Any:
        if isinstance(query.get("day"), str):
            read_days.append(query["day"])
        return find(query, projection)

    reservations.find = counting_find  # type: ignore[method-assign]
    decision = approved("pat-svc-4", s=stamp(now=datetime.now(UTC), seed=4400))
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
    course = Course.model_validate(db["courses"].docs["pat-svc-4"]["state"])
    booked = {
        day
        for a in course.appointments
        for day in (a.starts_at.astimezone(UTC).date(), a.ends_at.astimezone(UTC).date())
    }
    assert {d.isoformat() for d in booked} <= set(read_days)
    assert len(read_days) == len(set(read_days)), "each day read once"
    assert len(read_days) <= 2 * len(booked)


async def test_a_second_approval_books_around_the_first() -> None:
    """The second course starts knowing no day, learns the first course's days from the
    database and books around them: no chair holds two patients at once."""
    broker, db, _ = scheduling()
    now = datetime.now(UTC)
    patients = ("pat-svc-5", "pat-svc-6")
    async with TestKafkaBroker(broker) as test_broker:
        for n, pid in enumerate(patients):
            decision = approved(pid, s=stamp(now=now, seed=4500 + n))
            await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
    first, second = (Course.model_validate(db["courses"].docs[p]["state"]) for p in patients)
    clashes = [
        (a.chair_id, a.starts_at)
        for a in first.appointments
        for b in second.appointments
        if a.chair_id and a.chair_id == b.chair_id
        and a.starts_at < b.ends_at and b.starts_at < a.ends_at
    ]  # fmt: skip
    assert clashes == []
    assert first.dose(1) is not None
    assert second.dose(1) is not None
    same_time = first.dose(1).starts_at == second.dose(1).starts_at  # type: ignore[union-attr]
    assert not same_time or first.dose(1).chair_id != second.dose(1).chair_id  # type: ignore[union-attr]
