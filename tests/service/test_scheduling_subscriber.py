"""Scheduling's subscriber through FastStream's own test broker, over the in-memory twin."""

from __future__ import annotations

import json
from typing import Any, cast

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.message import StreamMessage

from contracts import Topic, dlq
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.vocabulary import Protocol
from services.runtime.consumer import current_message
from services.runtime.settings import Settings
from services.scheduling import main
from services.scheduling.course import Course
from tests.support.events import approved, stamp
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


async def test_an_approval_books_preparation_and_first_dose_once_even_when_redelivered() -> None:
    broker, db, dead = scheduling()
    decision = approved("pat-svc-1", s=stamp(seed=4000), protocol=Protocol.ESKETAMINE_TRD)
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(2):
            await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
    doc = db["courses"].docs["pat-svc-1"]
    types = [e["event_type"] for e in doc["outbox"]]
    assert types == [CourseScheduled.__name__, AppointmentBooked.__name__, "AppointmentBooked"]
    assert doc["processed"] == [str(decision.event_id)]
    course = Course.model_validate(doc["state"])
    assert [a.kind for a in course.appointments] == ["preparation", "dosing"]
    assert course.appointments[1].chair_id == "north-chair-1"
    assert dead == []


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
