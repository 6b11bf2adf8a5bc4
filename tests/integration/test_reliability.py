"""Delivery guarantees on the real broker and database: idempotency, dead letters, outbox."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI
from pydantic import BaseModel

from contracts import Topic, dlq
from contracts.intake import PatientReferred, ScreeningScored
from harness.events import referred, screened, stamp
from harness.running import events_of, eventually, produce, read_topic, running
from services.journey.main import create_app as journey_app
from services.runtime import consumer
from services.runtime.aggregate import AggregateStore
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.outbox import OutboxRelay
from services.runtime.settings import Settings

pytestmark = pytest.mark.infra


def topic(settings: Settings, name: str) -> str:
    return settings.kafka_topic_prefix + name


def new_patient() -> str:
    return f"pat-{uuid.uuid4().hex[:12]}"


async def journey_doc(mongo: Any, settings: Settings, patient_id: str) -> Any:
    return await mongo[f"{settings.deployment}_journey"]["journeys"].find_one({"_id": patient_id})


async def test_the_same_event_delivered_twice_has_one_effect(
    settings: Settings, mongo: Any
) -> None:
    pid = new_patient()
    first, marker = referred(pid, s=stamp(seed=10)), screened(pid, s=stamp(seed=20))
    async with running(journey_app(settings.for_service("journey"))):
        for event in (first, first, marker):
            await produce(
                settings.kafka_bootstrap_servers,
                topic(settings, Topic.INTAKE),
                event.to_bytes(),
                pid,
            )
        doc = await eventually(lambda: _with_timeline(mongo, settings, pid, at_least=2), timeout=60)
    assert [e["event_type"] for e in doc["state"]["timeline"]] == [
        "PatientReferred",
        "ScreeningScored",
    ]
    assert sorted(doc["processed"]) == sorted([str(first.event_id), str(marker.event_id)])


async def _with_timeline(mongo: Any, settings: Settings, pid: str, at_least: int) -> Any:
    doc = await journey_doc(mongo, settings, pid)
    return doc if doc and len(doc["state"]["timeline"]) >= at_least else None


async def test_a_poison_message_is_dead_lettered_and_the_partition_keeps_flowing(
    settings: Settings, mongo: Any
) -> None:
    pid = new_patient()
    bootstrap = settings.kafka_bootstrap_servers
    intake = topic(settings, Topic.INTAKE)
    off_contract = {**referred(pid).model_dump(mode="json"), "phq9_total": 99, "site_id": ""}
    async with running(journey_app(settings.for_service("journey"))):
        await produce(bootstrap, intake, b"{not json", pid, **{"content-type": "application/json"})
        await produce(bootstrap, intake, PatientReferred.__name__.encode(), pid)
        await produce(bootstrap, intake, str(off_contract).encode(), pid)
        import json

        await produce(bootstrap, intake, json.dumps(off_contract).encode(), pid)
        good = referred(pid, s=stamp(seed=30))
        await produce(bootstrap, intake, good.to_bytes(), pid)
        await eventually(lambda: _with_timeline(mongo, settings, pid, at_least=1), timeout=60)
    group = f"{settings.deployment}-journey.{intake}"
    everyone = await read_topic(bootstrap, dlq(intake), pid, want=4, group=group)
    dead = [(h, v) for h, v in everyone if h["dlq.consumer_group"] == group]
    assert len(dead) == 4
    headers = [h for h, _ in dead]
    assert {h["dlq.original_topic"] for h in headers} == {intake}
    assert all(
        h["dlq.original_offset"].isdigit() and h["dlq.original_partition"].isdigit()
        for h in headers
    )
    assert headers[0]["dlq.error_class"] == "JSONDecodeError"
    validation = headers[3]
    assert validation["dlq.error_class"] == "ValidationError"
    assert "site_id" in validation["dlq.error"]
    assert "phq9_total: extra_forbidden" in validation["dlq.error"]
    assert "Patient-0" not in validation["dlq.error"], "no input values in headers"
    assert dead[0][1] == b"{not json", "the original bytes are kept for re-driving"


class Counter(BaseModel):
    seen: int = 0


async def test_a_crash_between_storing_state_and_publishing_loses_no_event(
    settings: Settings, mongo: Any
) -> None:
    pid = new_patient()
    collection = mongo[f"{settings.deployment}_outbox"]["things"]
    store = AggregateStore(collection, Counter)
    event = referred(pid, s=stamp(seed=40))
    await store.apply(pid, lambda state: (Counter(seen=1), [event]))
    # The process dies here: the state and its event are stored, nothing was published.
    stored = await collection.find_one({"_id": pid})
    assert stored["outbox_pending"] is True
    assert stored["state"] == {"seen": 1}

    broker = KafkaBroker(settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await broker.start()
    try:

        async def publish(entry: dict[str, Any]) -> Any:
            return await broker.publish(
                entry["value"].encode(), topic(settings, entry["topic"]), key=entry["key"].encode()
            )

        after_restart = AggregateStore(collection, Counter)
        assert await OutboxRelay([after_restart], publish).drain_once() == 0, "not yet orphaned"
        later = datetime.now(UTC) + after_restart.orphaned_after
        after_restart.clock = lambda: later
        restarted = OutboxRelay([after_restart], publish)
        assert await restarted.drain_once() == 1
        assert await restarted.drain_once() == 0
    finally:
        await broker.stop()
    published = events_of(
        await read_topic(settings.kafka_bootstrap_servers, topic(settings, Topic.INTAKE), pid)
    )
    assert [e["event_id"] for e in published] == [str(event.event_id)]
    cleared = await collection.find_one({"_id": pid})
    assert cleared["outbox"] == []
    assert cleared["outbox_pending"] is False


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_next_message_flows(
    settings: Settings,
) -> None:
    pid = new_patient()
    attempts: list[str] = []
    handled: list[str] = []
    failing = referred(pid, s=stamp(seed=50))

    async def on_event(event: PatientReferred | ScreeningScored) -> None:
        if event.patient_id != pid:
            return
        if event.event_id == failing.event_id:
            attempts.append(str(event.event_id))
            raise RuntimeError("downstream rule engine exploded")
        handled.append(event.event_type)

    policy = DeadLetterPolicy(group=f"{settings.deployment}-flaky", max_attempts=3, backoff_s=0.01)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        middlewares=(policy.middleware(), consumer.CurrentMessage),
    )
    policy.publish = broker.publish
    consumer.subscribe(
        broker,
        topic(settings, Topic.INTAKE),
        group_id=policy.group,
        routes={PatientReferred: on_event, ScreeningScored: on_event},
    )
    app = FastStreamAPI(broker, application=FastAPI(), safe_connection=True)
    async with running(app):
        await produce(
            settings.kafka_bootstrap_servers, topic(settings, Topic.INTAKE), failing.to_bytes(), pid
        )
        nxt = screened(pid, s=stamp(seed=60))
        await produce(
            settings.kafka_bootstrap_servers, topic(settings, Topic.INTAKE), nxt.to_bytes(), pid
        )
        await eventually(lambda: _done(handled), timeout=60)
    assert attempts == [str(failing.event_id)] * 3
    group = f"{policy.group}.{topic(settings, Topic.INTAKE)}"
    everyone = await read_topic(
        settings.kafka_bootstrap_servers, dlq(topic(settings, Topic.INTAKE)), pid, group=group
    )
    dead = [(h, v) for h, v in everyone if h["dlq.consumer_group"] == group]
    assert dead[0][0]["dlq.error_class"] == "RuntimeError"
    assert dead[0][0]["dlq.attempts"] == "3"


async def _done(handled: list[str]) -> bool:
    return handled == ["ScreeningScored"]


async def test_concurrent_commands_on_one_patient_while_the_relay_drains_lose_nothing(
    settings: Settings, mongo: Any
) -> None:
    pid = new_patient()
    store = AggregateStore(mongo[f"{settings.deployment}_outbox"]["busy"], Counter)
    broker = KafkaBroker(settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await broker.start()

    async def publish(entry: dict[str, Any]) -> Any:
        return await broker.publish(
            entry["value"].encode(), topic(settings, entry["topic"]), key=entry["key"].encode()
        )

    relay = OutboxRelay([store], publish, poll_interval_s=0.01)
    store.on_commit = relay.nudge
    relay.start()
    events = [referred(pid, s=stamp(seed=1000 + i)) for i in range(30)]

    def bump(event: PatientReferred) -> Any:
        return lambda state: (Counter(seen=(state.seen if state else 0) + 1), [event])

    try:
        await asyncio.gather(*(store.apply(pid, bump(e)) for e in events))
        await eventually(lambda: _outbox_empty(store, pid), timeout=30)
    finally:
        await relay.stop()
        await broker.stop()
    assert (await store.load(pid)).state == Counter(seen=30)
    intake = topic(settings, Topic.INTAKE)
    published = events_of(await read_topic(settings.kafka_bootstrap_servers, intake, pid, want=30))
    assert {e["event_id"] for e in published} == {str(e.event_id) for e in events}


async def _outbox_empty(store: AggregateStore[Counter], pid: str) -> bool:
    doc = await store.collection.find_one({"_id": pid})
    return doc is not None and doc["outbox"] == []


async def test_a_decision_that_changes_nothing_writes_nothing(
    settings: Settings, mongo: Any
) -> None:
    store = AggregateStore(mongo[f"{settings.deployment}_outbox"]["quiet"], Counter)
    await store.apply("pat-quiet", lambda state: (Counter(seen=1), []))
    before = await store.collection.find_one({"_id": "pat-quiet"})
    await store.apply("pat-quiet", lambda state: (state or Counter(), []))
    after = await store.collection.find_one({"_id": "pat-quiet"})
    assert before is not None
    assert after is not None
    assert before["version"] == after["version"] == 1
