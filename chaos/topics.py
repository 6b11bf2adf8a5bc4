"""What the deployment's topics hold: every event, dead letters and consumer-group lag."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts import Topic
from contracts.topics import dlq
from services.runtime.settings import Settings


async def _read(settings: Settings, topic: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        events: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while [p for p, end in ends.items() if await consumer.position(p) < end]:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout}s")
            batch = await consumer.getmany(timeout_ms=500)
            events += [json.loads(r.value) for records in batch.values() for r in records]
        return events
    finally:
        await consumer.stop()


async def _events(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    prefix = settings.kafka_topic_prefix
    names = [prefix + t.value for t in Topic] + [prefix + dlq(t.value) for t in Topic]
    found = await asyncio.gather(*(_read(settings, name) for name in names))
    return {name.removeprefix(prefix): events for name, events in zip(names, found, strict=True)}


def events(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every event of every topic of the deployment (and its dead letters), by topic."""
    return asyncio.run(_events(settings))


async def _lag(settings: Settings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, int] = {}
        for group in [str(g[0]) for g in await admin.list_consumer_groups()]:
            if not group.startswith(f"{settings.deployment}-"):
                continue
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed))
            lag[group] = sum(max(0, ends[tp] - m.offset) for tp, m in committed.items())
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def lag(settings: Settings) -> dict[str, int]:
    """Messages each of the deployment's consumer groups has not committed yet."""
    return asyncio.run(_lag(settings))
