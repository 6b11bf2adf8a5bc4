"""Ops can re-drive dead letters once the cause is fixed; each is re-driven once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI

from contracts import Topic, dlq
from contracts.intake import PatientReferred
from harness.events import referred, stamp
from harness.running import eventually, produce, read_topic, running
from services.runtime import consumer
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.redrive import list_letters, redrive
from services.runtime.settings import SERVICE_PORTS, Settings

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


def letter_of(topic: str, group: str, n: int) -> tuple[bytes, dict[str, str]]:
    return f'{{"n": {n}}}'.encode(), {
        "dlq.original_topic": topic,
        "dlq.original_partition": "0",
        "dlq.original_offset": str(n),
        "dlq.error_class": "RuntimeError",
        "dlq.error": "RuntimeError",
        "dlq.consumer_group": group,
    }


async def test_redriving_one_group_never_commits_past_another_groups_letters(
    settings: Settings,
) -> None:
    topic = settings.kafka_topic_prefix + Topic.SESSION
    mine, theirs = (
        f"{settings.deployment}-coaching.{topic}",
        f"{settings.deployment}-journey.{topic}",
    )
    # one key, so one partition: theirs, mine, theirs, in this order
    for n, group in enumerate([theirs, mine, theirs]):
        value, headers = letter_of(topic, group, n)
        await produce(settings.kafka_bootstrap_servers, dlq(topic), value, "pat-1", **headers)

    assert await redrive(settings, dlq(topic), only_group=mine) == 1
    assert await redrive(settings, dlq(topic), only_group=mine) == 0, "each letter once"
    assert await redrive(settings, dlq(topic), only_group=theirs) == 2, "skipped ones stay"
    assert await redrive(settings, dlq(topic)) == 0, "nothing is re-driven twice"
    value, headers = letter_of(topic, mine, 3)
    await produce(settings.kafka_bootstrap_servers, dlq(topic), value, "pat-1", **headers)
    assert await redrive(settings, dlq(topic)) == 1
    assert await redrive(settings, dlq(topic), only_group=mine) == 0
    redriven = await read_topic(settings.kafka_bootstrap_servers, topic, "pat-1", want=5, timeout=3)
    assert sorted(value for _, value in redriven) == [b'{"n": %d}' % n for n in range(4)]


async def kap(settings: Settings, *args: str) -> tuple[int, str]:
    """Run the `kap` command line against the throwaway deployment."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "DEPLOYMENT": settings.deployment,
        **{f"KAP_{name.upper()}_URL": "http://127.0.0.1:9" for name in SERVICE_PORTS},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


async def test_kap_lists_shows_and_redrives_one_groups_letters_and_counts_them_in_status(
    settings: Settings,
) -> None:
    topic = settings.kafka_topic_prefix + Topic.INTAKE
    mine, theirs = (
        f"{settings.deployment}-session.{topic}",
        f"{settings.deployment}-journey.{topic}",
    )
    for n, group in enumerate([theirs, mine]):
        value, headers = letter_of(topic, group, n)
        await produce(settings.kafka_bootstrap_servers, dlq(topic), value, "pat-2", **headers)

    code, listed = await kap(settings, "dlq", "list", dlq(topic), "--json")
    assert code == 0, listed
    letters = json.loads(listed)
    assert [letter["consumer_group"] for letter in letters] == [theirs, mine]
    at = f"{letters[1]['partition']}:{letters[1]['offset']}"
    code, shown = await kap(settings, "dlq", "show", dlq(topic), at, "--json")
    assert code == 0, shown
    assert json.loads(shown)["headers"]["dlq.consumer_group"] == mine
    assert "payload" not in json.loads(shown), "the payload only on request"
    code, sent = await kap(settings, "dlq", "redrive", dlq(topic), "--group", mine, "--json")
    assert (code, json.loads(sent)["redriven"]) == (0, 1), sent
    code, status = await kap(settings, "status", "--json")
    report = json.loads(status)
    assert code == 1, "services unreachable"
    assert not any(service["ready"] for service in report["services"])
    (intake,) = [d for d in report["dead_letters"] if d["topic"] == dlq(topic)]
    assert (intake["letters"], intake["not_redriven"]) == (2, 1)
