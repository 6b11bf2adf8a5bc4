"""Batch consumption: grouped by aggregate, one commit each, poison alone, crash-safe replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from contracts import EventBase, Topic
from harness.events import T0, screened, stamp
from harness.traffic import patient_events
from services.journey.projections import Projections
from services.runtime import aggregate
from services.runtime.batch import BatchConsumer
from services.runtime.dead_letter import DeadLetterPolicy
from tests.support.memory import MemoryDatabase
from tests.support.outage import storage_down

TOPIC = Topic.INTAKE.value
GROUP = "kap-journey"


@dataclass(frozen=True)
class Record:
    """The fields of a Kafka ConsumerRecord the batch consumer and dead letters read."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Letters:
    sent: list[dict[str, str]] = field(default_factory=list)

    async def publish(self, value: bytes, topic: str, **kw: Any) -> None:
        self.sent.append(kw["headers"])


def records(values: Sequence[bytes | EventBase]) -> list[Record]:
    return [
        Record(TOPIC, 0, offset, b"k", v if isinstance(v, bytes) else v.to_bytes())
        for offset, v in enumerate(values)
    ]


def consumer(projections: Projections, letters: Letters, apply: Any = None) -> BatchConsumer:
    policy = DeadLetterPolicy(GROUP, max_attempts=2, backoff_s=0, publish=letters.publish)
    return BatchConsumer(GROUP, apply or projections.apply_batch, policy)


def two_patients() -> tuple[list[EventBase], list[EventBase]]:
    return [e for _, e in patient_events(1)][:3], [e for _, e in patient_events(2)][:3]


def stored(db: MemoryDatabase, patient_id: str) -> dict[str, Any]:
    return db["journeys"].docs[patient_id]


async def test_a_poison_message_mid_batch_is_dead_lettered_alone_and_the_rest_commit_once() -> None:
    db, letters = MemoryDatabase(), Letters()
    projections = Projections(cast(Any, db))
    first, second = two_patients()
    batch = records([first[0], second[0], first[1], b"{not json", second[1], first[2], second[2]])
    await consumer(projections, letters).consume(batch)
    assert [(h["dlq.original_offset"], h["dlq.error_class"]) for h in letters.sent] == [
        ("3", "JSONDecodeError")
    ]
    for events in (first, second):
        doc = stored(db, events[0].patient_id)
        assert doc["version"] == 1, "one commit for the patient's three events"
        assert sorted(doc["processed"]) == sorted(str(e.event_id) for e in events)
        assert len(doc["state"]["timeline"]) == 3


async def test_an_event_that_keeps_failing_is_dead_lettered_alone_and_its_batch_mates_commit() -> (
    None
):
    db, letters = MemoryDatabase(), Letters()
    projections = Projections(cast(Any, db))
    first, _ = two_patients()
    bad = screened(first[0].patient_id, s=stamp(now=T0 + timedelta(minutes=5), seed=77))

    async def apply(patient_id: str, events: Sequence[EventBase]) -> None:
        if any(e.event_id == bad.event_id for e in events):
            raise RuntimeError("cannot project this one")
        await projections.apply_batch(patient_id, events)

    await consumer(projections, letters, apply).consume(records([first[0], bad, first[1]]))
    assert [(h["dlq.original_offset"], h["dlq.error_class"]) for h in letters.sent] == [
        ("1", "RuntimeError")
    ]
    doc = stored(db, first[0].patient_id)
    assert sorted(doc["processed"]) == sorted(str(e.event_id) for e in first[:2])


async def test_a_crash_mid_batch_redelivers_the_batch_without_double_effects() -> None:
    db, letters = MemoryDatabase(), Letters()
    projections = Projections(cast(Any, db))
    first, second = two_patients()
    batch = records([*first, *second])

    async def crashing(patient_id: str, events: Sequence[EventBase]) -> None:
        await projections.apply_batch(patient_id, events)
        if patient_id == second[0].patient_id:
            raise AutoReconnect("database went away after this commit")

    with pytest.raises(AutoReconnect):
        await consumer(projections, letters, crashing).consume(batch)
    assert letters.sent == [], "an outage is redelivered, never dead-lettered"
    before = {p: stored(db, p)["version"] for p in (first[0].patient_id, second[0].patient_id)}
    duplicates = sum(aggregate.DUPLICATES.values())
    await consumer(projections, letters).consume(batch)
    for events in (first, second):
        doc = stored(db, events[0].patient_id)
        assert doc["version"] == before[events[0].patient_id], "nothing committed twice"
        assert len(doc["state"]["timeline"]) == 3
    assert sum(aggregate.DUPLICATES.values()) == duplicates + 2
    summaries = db["journeys_summary"].docs
    assert summaries[second[0].patient_id]["timeline_length"] == 3


async def test_a_database_out_of_reach_behind_ferretdb_is_redelivered_not_dead_lettered() -> None:
    """Found by a fault-injection run on the batched journey (seed 116): with PostgreSQL
    restarting, FerretDB answers an InternalError, not a ConnectionFailure; the batch
    dead-lettered seven events and a discharge never reached the journey."""
    db, letters = MemoryDatabase(), Letters()
    projections = Projections(cast(Any, db))
    first, second = two_patients()

    async def storage_restarting(patient_id: str, events: Sequence[EventBase]) -> None:
        raise storage_down()

    with pytest.raises(OperationFailure):
        await consumer(projections, letters, storage_restarting).consume(records(first + second))
    assert letters.sent == [], "an outage is redelivered, never dead-lettered"
    await consumer(projections, letters).consume(records(first + second))
    assert all(len(stored(db, e[0].patient_id)["state"]["timeline"]) == 3 for e in (first, second))
