"""What consumers refuse (dead letter) and what they ignore on purpose, through FastStream's
own test broker and the real composition roots over the in-memory twin."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.message import StreamMessage

from contracts import Topic, dlq
from harness.events import approved, referred, stamp
from services.journey import main as journey_main
from services.runtime.consumer import IGNORED, current_message
from services.runtime.settings import Settings
from services.scheduling import main as scheduling_main
from tests.support.memory import MemoryDatabase

INTAKE = Topic.INTAKE.value
Dead = list[StreamMessage[Any]]


def composed(service: str) -> tuple[KafkaBroker, MemoryDatabase, Dead]:
    """A service's real composition root over the memory twin, plus a tap on the intake
    dead-letter topic."""
    db = MemoryDatabase()
    settings, twin = Settings().for_service(service), cast(Any, db)
    if service == "journey":
        app = journey_main.create_app(settings, db=twin)
    else:
        app = scheduling_main.create_app(settings, db=twin)
    broker: KafkaBroker = app._brokers[0]  # type: ignore[assignment]
    dead: Dead = []

    @broker.subscriber(dlq(INTAKE))
    async def tap(body: Any) -> None:
        dead.append(current_message())

    return broker, db, dead


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.entries.append(record.msg)


@contextmanager
def consumer_log() -> Iterator[list[dict[str, Any]]]:
    """What the consumer logs, as structlog event dicts (after the service set logging up)."""
    logger, kept = logging.getLogger("services.runtime.consumer"), Kept()
    logger.addHandler(kept)
    try:
        yield kept.entries
    finally:
        logger.removeHandler(kept)


def journey_of(db: MemoryDatabase, patient_id: str) -> Any:
    return db["journeys"].docs.get(patient_id)


def message(patient_id: str, seed: int, **changes: Any) -> dict[str, Any]:
    """A well-formed PatientReferred as JSON, with `changes` applied to its top level."""
    return {**referred(patient_id, s=stamp(seed=seed)).model_dump(mode="json"), **changes}


async def test_a_newer_major_schema_version_is_dead_lettered_not_read_as_the_current_one() -> None:
    broker, db, dead = composed("journey")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(message("pat-bad-1", 7100, schema_version="2.0"), INTAKE)
    assert journey_of(db, "pat-bad-1") is None, "nothing projected from a 2.0 event"
    assert [d.headers["dlq.error_class"] for d in dead] == ["ValidationError"]
    assert dead[0].headers["dlq.error"] == "schema_version: schema_major_unsupported"
    assert dead[0].headers["dlq.original_topic"] == INTAKE


async def test_a_newer_major_schema_version_is_dead_lettered_by_a_group_that_handles_it() -> None:
    broker, db, dead = composed("scheduling")
    decision = approved("pat-bad-2", s=stamp(seed=7200)).model_dump(mode="json")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({**decision, "schema_version": "2.0"}, INTAKE)
    assert "pat-bad-2" not in db["courses"].docs, "no course booked from a 2.0 approval"
    assert [d.headers["dlq.error"] for d in dead] == ["schema_version: schema_major_unsupported"]


async def test_a_newer_minor_schema_version_with_unknown_fields_is_still_projected() -> None:
    broker, db, dead = composed("journey")
    newer = message("pat-bad-3", 7300, schema_version="1.4", triage_lane="b")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(newer, INTAKE)
    assert journey_of(db, "pat-bad-3") is not None
    assert dead == []


async def test_an_integer_occurred_at_is_dead_lettered_not_read_as_a_unix_timestamp() -> None:
    broker, db, dead = composed("journey")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(message("pat-bad-4", 7400, occurred_at=1700000000), INTAKE)
        await test_broker.publish(message("pat-bad-5", 7500, occurred_at="1700000000"), INTAKE)
    assert journey_of(db, "pat-bad-4") is None, "no journey dated 2023 from an integer"
    assert journey_of(db, "pat-bad-5") is None, "nor from digits in a string"
    assert [d.headers["dlq.error"] for d in dead] == ["occurred_at: iso8601_instant_required"] * 2
    assert json.loads(dead[0].body)["occurred_at"] == 1700000000, "original bytes kept"


async def test_an_iso_8601_occurred_at_as_producers_write_it_is_projected() -> None:
    broker, db, dead = composed("journey")
    event = referred("pat-bad-6", s=stamp(seed=7600))
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.to_bytes(), INTAKE)
    assert event.to_bytes().decode().count('"occurred_at":"2026-03-02T14:00:00Z"') == 1
    assert journey_of(db, "pat-bad-6") is not None
    assert dead == []


async def test_an_object_without_event_type_is_dead_lettered_not_dropped() -> None:
    broker, db, dead = composed("journey")
    untyped = {k: v for k, v in message("pat-bad-7", 7700).items() if k != "event_type"}
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(untyped, INTAKE)
        await test_broker.publish({**untyped, "event_type": None}, INTAKE)
        await test_broker.publish({**untyped, "event_type": ""}, INTAKE)
    assert journey_of(db, "pat-bad-7") is None
    assert [d.headers["dlq.error_class"] for d in dead] == ["OffContractMessage"] * 3
    assert dead[0].headers["dlq.error"] == "OffContractMessage: event_type missing or malformed"


async def test_an_unknown_event_type_is_ignored_explicitly_and_counted() -> None:
    broker, db, dead = composed("journey")
    group = f"{Settings().deployment}-journey.{INTAKE}"
    before = IGNORED[(group, "unknown_event_type")]
    teleported = message("pat-bad-8", 7800, event_type="PatientTeleported")
    with consumer_log() as logged:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(teleported, INTAKE)
    assert IGNORED[(group, "unknown_event_type")] == before + 1
    ignored = [e for e in logged if e["event"] == "message_ignored"]
    assert [(e["reason"], e["event_type"], e["topic"]) for e in ignored] == [
        ("unknown_event_type", "PatientTeleported", INTAKE)
    ]
    assert {"partition", "offset"} <= set(ignored[0])
    assert not {"patient_id", "site_id", "identity", "referral_source"} & set(ignored[0])
    assert "Patient-0" not in json.dumps(ignored[0], default=str), "no payload in the log"
    assert journey_of(db, "pat-bad-8") is None
    assert dead == []


async def test_an_event_the_group_does_not_subscribe_to_is_ignored_explicitly_and_counted() -> None:
    broker, db, dead = composed("scheduling")
    group = f"{Settings().deployment}-scheduling.{INTAKE}"
    before = IGNORED[(group, "not_subscribed")]
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(message("pat-bad-9", 7900), INTAKE)
    assert IGNORED[(group, "not_subscribed")] == before + 1
    assert "pat-bad-9" not in db["courses"].docs
    assert dead == []
