"""Partitions of topics and consumer lag per topic, read from the broker."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.runtime.settings import Settings


async def partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    ]


async def consumer_lag(settings: Settings, group: str, topics: list[str]) -> dict[str, int]:
    """Messages on each topic that `<group>.<topic>` has not committed yet (all partitions)."""
    found = await partitions(settings, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await admin.start()
    await probe.start()
    try:
        ends = await probe.end_offsets(found) if found else {}
        lag: dict[str, int] = {}
        for topic in topics:
            mine = [tp for tp in found if tp.topic == topic]
            committed = await admin.list_consumer_group_offsets(f"{group}.{topic}", partitions=mine)
            lag[topic] = sum(
                ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp]
                for tp in mine
            )
        return lag
    finally:
        await probe.stop()
        await admin.close()
