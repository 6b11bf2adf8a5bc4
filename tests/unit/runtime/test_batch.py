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
    """The journey's wiring (one bulk write, then one commit per patient it did not store);
    with `apply`, only the one-patient-at-a-time path, through `apply`."""
    policy = DeadLetterPolicy(GROUP, max_attempts=2, backoff_s=0, publish=letters.publish)
    if apply is not None:
        return BatchConsumer(GROUP, apply, policy)
    return BatchConsumer(GROUP, projections.apply_batch, policy, apply_all=projections.apply_all)


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


def rival_commits_before_the_batch_writes(
    db: MemoryDatabase, other_instance: Projections, rival: Any
) -> None:
    """The batch's loads are done: the other instance commits `rival` before the batch's
    insert of new journeys runs."""
    journeys = db["journeys"]
    insert_many = journeys.insert_many

    async def racing(docs: list[Any], ordered: bool = True) -> Any:
        journeys.insert_many = insert_many  # type: ignore[method-assign]
        await other_instance.apply_batch(rival.patient_id, [rival])
        return await insert_many(docs, ordered)

    journeys.insert_many = racing  # type: ignore[method-assign]


async def test_a_lost_compare_and_set_in_a_batch_write_reapplies_that_patient_losing_nothing() -> (
    None
):
    """Another instance commits one patient between the batch's loads and its writes: the
    batch's compare-and-set replace of that patient loses, and the patient is applied again on
    top of the other instance's commit; the other patient, inserted by the batch, is stored
    once."""
    db, letters = MemoryDatabase(), Letters()
    projections, other_instance = Projections(cast(Any, db)), Projections(cast(Any, db))
    first, second = two_patients()
    await consumer(projections, letters).consume(records(first[:1]))
    rival = screened(first[0].patient_id, s=stamp(now=T0 + timedelta(minutes=9), seed=91))
    rival_commits_before_the_batch_writes(db, other_instance, rival)
    await consumer(projections, letters).consume(records([*first[1:], *second]))
    assert letters.sent == []
    doc = stored(db, first[0].patient_id)
    assert doc["version"] == 3, "insert, the other instance's commit, then this batch's"
    assert sorted(doc["processed"]) == sorted(str(e.event_id) for e in [*first, rival])
    assert len(doc["state"]["timeline"]) == 4
    assert db["journeys_summary"].docs[first[0].patient_id]["timeline_length"] == 4
    other = stored(db, second[0].patient_id)
    assert other["version"] == 1, "stored by the bulk, not written again"
    assert len(other["state"]["timeline"]) == 3


async def test_new_patients_of_a_batch_are_one_insert_of_journeys_and_one_of_summaries() -> None:
    db, letters = MemoryDatabase(), Letters()
    projections = Projections(cast(Any, db))
    first, second = two_patients()
    writes: list[str] = []
    for name in ("journeys", "journeys_summary"):
        collection = db[name]
        for method in ("insert_many", "insert_one", "replace_one"):
            setattr(
                collection, method, counted(writes, f"{name}.{method}", getattr(collection, method))
            )
    await consumer(projections, letters).consume(records([*first, *second]))
    assert writes == ["journeys.insert_many", "journeys_summary.insert_many"]
    for events in (first, second):
        assert stored(db, events[0].patient_id)["version"] == 1
        assert db["journeys_summary"].docs[events[0].patient_id]["timeline_length"] == 3


async def test_a_lost_insert_in_a_batch_write_reapplies_that_patient_losing_nothing() -> None:
    """Another instance creates one patient's journey between the batch's loads and its
    insert: the duplicate `_id` fails that patient's insert only; the patient is applied again
    on top of the other instance's journey."""
    db, letters = MemoryDatabase(), Letters()
    projections, other_instance = Projections(cast(Any, db)), Projections(cast(Any, db))
    first, second = two_patients()
    rival = screened(first[0].patient_id, s=stamp(now=T0 + timedelta(minutes=9), seed=92))
    rival_commits_before_the_batch_writes(db, other_instance, rival)
    await consumer(projections, letters).consume(records([*first, *second]))
    doc = stored(db, first[0].patient_id)
    assert doc["version"] == 2, "the other instance's insert, then this batch's replace"
    assert sorted(doc["processed"]) == sorted(str(e.event_id) for e in [*first, rival])
    assert db["journeys_summary"].docs[first[0].patient_id]["timeline_length"] == 4
    assert stored(db, second[0].patient_id)["version"] == 1


def counted(writes: list[str], name: str, method: Any) -> Any:
    async def call(*args: Any, **kw: Any) -> Any:
        writes.append(name)
        return await method(*args, **kw)

    return call
