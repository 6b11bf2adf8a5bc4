"""Smoke test for the local Kafka broker: the aiokafka features the services rely on.

Run: .venv/bin/python infra/local/kafka_smoke.py  (exits non-zero on failure)
Checks: admin create_topics; idempotent producer with acks=all (+ headers); a consumer group
with manual commits, and a second consumer of the same group resuming right after the
committed offsets. KAFKA_BOOTSTRAP_SERVERS overrides the address. Topic: a fresh random name.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BOOTSTRAP = os.environ.get(
    "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
)
TOTAL, FIRST_BATCH = 6, 4


def consumer(topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def take(c: AIOKafkaConsumer, n: int, timeout: float = 30.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"expected {n} messages, got {len(got)}: {got}")
        try:
            msg = await asyncio.wait_for(c.getone(), timeout=left)
        except TimeoutError:
            continue
        assert msg.value is not None
        if msg.value.endswith(b"-0"):
            assert dict(msg.headers).get("trace") == b"t-0", msg.headers
        got.append(msg.value)
    return got


async def main() -> None:
    topic, group = f"smoke-{uuid.uuid4().hex[:8]}", f"smoke-group-{uuid.uuid4().hex[:8]}"

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in await admin.list_topics(), "created topic not listed"
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [f"{topic}-{i}".encode() for i in range(TOTAL)]
        for i, value in enumerate(sent):
            headers = [("trace", b"t-0")] if i == 0 else None
            meta = await producer.send_and_wait(topic, value, key=f"k{i}".encode(), headers=headers)
            assert meta.offset >= 0, meta
    finally:
        await producer.stop()

    first = consumer(topic, group)
    await first.start()
    try:
        part1 = await take(first, FIRST_BATCH)
        await first.commit()
    finally:
        await first.stop()

    second = consumer(topic, group)
    await second.start()
    try:
        part2 = await take(second, TOTAL - FIRST_BATCH)
        # nothing already committed by the first consumer may come back
        extra = await second.getmany(timeout_ms=1500)
        part2 += [m.value for batch in extra.values() for m in batch if m.value is not None]
    finally:
        await second.stop()

    assert not set(part1) & set(part2), f"re-delivered after commit: {set(part1) & set(part2)}"
    assert sorted(part1 + part2) == sorted(sent), f"lost or duplicated: {part1} + {part2}"
    print(f"kafka smoke OK ({BOOTSTRAP}, topic {topic}: {len(part1)} + {len(part2)} messages)")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:
        print(f"kafka smoke FAILED: {exc!r}", file=sys.stderr)
        raise
