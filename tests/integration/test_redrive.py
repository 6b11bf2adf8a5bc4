"""Ops can re-drive dead letters once the cause is fixed; each is re-driven once."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI

from contracts import Topic, dlq
from contracts.intake import PatientReferred
from services.runtime import consumer
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.redrive import list_letters, redrive
from services.runtime.settings import Settings
from tests.support.events import referred, stamp
from tests.support.running import eventually, produce, running

pytestmark = pytest.mark.infra


async def test_a_dead_letter_is_handled_after_the_fix_and_redriven_only_once(
    settings: Settings,
) -> None:
    topic = settings.kafka_topic_prefix + Topic.INTAKE
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    event = referred(pid, s=stamp(seed=7000))
    broken, handled = [True], []

    async def on_referred(received: PatientReferred) -> None:
        if broken[0]:
            raise RuntimeError("rule table missing")
        handled.append(received.event_id)

    policy = DeadLetterPolicy(group=f"{settings.deployment}-ops", max_attempts=2, backoff_s=0.01)
    broker = KafkaBroker(settings.kafka_bootstrap_servers,
                         middlewares=(policy.middleware(), consumer.CurrentMessage))  # fmt: skip
    policy.publish = broker.publish
    consumer.subscribe(broker, topic, group_id=policy.group, routes={PatientReferred: on_referred})
    async with running(FastStreamAPI(broker, application=FastAPI(), safe_connection=True)):
        await produce(settings.kafka_bootstrap_servers, topic, event.to_bytes(), pid)

        async def dead_lettered() -> bool:
            return len(await list_letters(settings, dlq(topic))) == 1

        await eventually(dead_lettered, timeout=60)
        broken[0] = False
        assert await redrive(settings, dlq(topic)) == 1

        async def handled_once() -> bool:
            return handled == [event.event_id]

        await eventually(handled_once, timeout=60)
        assert await redrive(settings, dlq(topic)) == 0
    [letter] = await list_letters(settings, dlq(topic))
    assert letter.headers["dlq.error_class"] == "RuntimeError"
    assert "RuntimeError" in letter.summary()
    assert "Patient-0" not in letter.summary(), "summaries never show the payload"
