"""The latency knobs on the event path, measured where they act (bench/README.md says what
was chosen from these numbers):

- `PRODUCER_LINGER_MS`: the outbox relay awaits each publish (acks=all, idempotent), so a
  linger is waited in full by every event; timed one publish at a time and ten relays at once;
- `CONSUMER_BATCH_TIMEOUT_MS` and `CONSUMER_FETCH_MAX_WAIT_MS`: how long an idle batch
  subscriber takes to hand a newly published record to its handler.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.runtime.settings import Settings

LINGERS = (0, 5, 20)
BATCH_WAITS = ((5, 100), (20, 100), (100, 100), (20, 500))


def ms(values: list[float], q: float) -> float:
    ranked = sorted(values)
    return round(1000 * ranked[min(len(ranked) - 1, round(q * (len(ranked) - 1)))], 1)


async def linger(settings: Settings, linger_ms: int, records: int = 200) -> dict[str, float]:
    topic = f"{settings.kafka_topic_prefix}linger-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True, linger_ms=linger_ms)  # fmt: skip
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first")
        took: list[float] = []
        started = time.perf_counter()
        for n in range(records):
            at = time.perf_counter()
            await producer.send_and_wait(topic, b"x" * 800, key=str(n % 10).encode())
            took.append(time.perf_counter() - at)
        one_at_a_time = records / (time.perf_counter() - started)

        async def relay(key: int) -> None:
            for _ in range(records // 10):
                await producer.send_and_wait(topic, b"x" * 800, key=str(key).encode())

        started = time.perf_counter()
        await asyncio.gather(*(relay(k) for k in range(10)))
        ten = records / (time.perf_counter() - started)
    finally:
        await producer.stop()
    return {
        "publish_ms_p50": ms(took, 0.5),
        "publish_ms_p99": ms(took, 0.99),
        "per_s_one_at_a_time": round(one_at_a_time),
        "per_s_ten_at_once": round(ten),
    }


async def idle_pickup(
    settings: Settings, timeout_ms: int, fetch_wait_ms: int, records: int = 40
) -> dict[str, float]:
    topic = f"{settings.kafka_topic_prefix}pickup-{uuid.uuid4().hex[:6]}"
    arrived: asyncio.Queue[float] = asyncio.Queue()
    broker = KafkaBroker(settings.kafka_bootstrap_servers, logger=None)

    @broker.subscriber(topic, batch=True, max_records=500, batch_timeout_ms=timeout_ms,
                       fetch_max_wait_ms=fetch_wait_ms, group_id=topic,
                       auto_offset_reset="earliest")  # fmt: skip
    async def handle(batch: list[Any]) -> None:
        for _ in batch:
            arrived.put_nowait(time.perf_counter())

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first")
        await broker.start()
        await asyncio.wait_for(arrived.get(), 30)
        took: list[float] = []
        for _ in range(records):
            await asyncio.sleep(random.uniform(0.05, 0.25))
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            took.append(await asyncio.wait_for(arrived.get(), 10) - sent)
    finally:
        await broker.stop()
        await producer.stop()
    return {"pickup_ms_p50": ms(took, 0.5), "pickup_ms_p95": ms(took, 0.95),
            "pickup_ms_max": ms(took, 1.0)}  # fmt: skip


async def knobs(settings: Settings) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for value in LINGERS:
        found[f"linger_ms={value}"] = await linger(settings, value)
    for timeout_ms, fetch_wait_ms in BATCH_WAITS:
        name = f"batch_timeout_ms={timeout_ms},fetch_max_wait_ms={fetch_wait_ms}"
        found[name] = await idle_pickup(settings, timeout_ms, fetch_wait_ms)
    return found
