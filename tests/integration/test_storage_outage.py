"""An event whose handler finds PostgreSQL down behind FerretDB is redelivered once the
database is back, never dead-lettered: a chaos run's PostgreSQL restart dead-lettered every
event in flight (OperationFailure after 3 quick attempts), and the follow-up plans of the
discharges among them were lost."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI

from contracts import Topic, dlq
from contracts.intake import PatientReferred, ScreeningScored
from harness.events import referred, screened, stamp
from harness.running import eventually, produce, read_topic, running
from services.runtime import consumer
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.settings import Settings
from tests.support.outage import storage_down

pytestmark = pytest.mark.infra


async def test_an_event_met_by_a_database_outage_is_redelivered_not_dead_lettered(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    topic = settings.kafka_topic_prefix + Topic.INTAKE
    first = referred(pid, s=stamp(seed=70))
    attempts: list[str] = []
    handled: list[str] = []

    async def on_event(event: PatientReferred | ScreeningScored) -> None:
        if event.patient_id != pid:
            return
        if event.event_id == first.event_id and len(attempts) < 5:
            attempts.append(str(event.event_id))
            raise storage_down()  # more outage answers than the 3 attempts a bug gets
        handled.append(event.event_type)

    policy = DeadLetterPolicy(group=f"{settings.deployment}-outage", max_attempts=3,
                              backoff_s=0.01)  # fmt: skip
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        middlewares=(policy.middleware(), consumer.CurrentMessage),
    )
    policy.publish = broker.publish
    consumer.subscribe(broker, topic, group_id=policy.group,
                       routes={PatientReferred: on_event, ScreeningScored: on_event})  # fmt: skip
    app = FastStreamAPI(broker, application=FastAPI(), safe_connection=True)
    async with running(app):
        await produce(settings.kafka_bootstrap_servers, topic, first.to_bytes(), pid)
        nxt = screened(pid, s=stamp(seed=71))
        await produce(settings.kafka_bootstrap_servers, topic, nxt.to_bytes(), pid)

        async def both() -> bool:
            return handled == ["PatientReferred", "ScreeningScored"]

        await eventually(both, timeout=60)
    assert len(attempts) == 5, "each outage answer was met with a redelivery"
    group = f"{policy.group}.{topic}"
    letters = await read_topic(settings.kafka_bootstrap_servers, dlq(topic), pid, want=1,
                               timeout=3, group=group)  # fmt: skip
    assert letters == []
