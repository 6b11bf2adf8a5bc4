"""Run a service app in-process (ASGI lifespan + httpx client) and read topics back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.runtime.auth import Role, mint_token
from services.runtime.settings import Settings


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (broker, relay, indexes), yield an HTTP client, then stop it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()
    failure: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind.endswith("startup.failed"):
            failure.append(message.get("message", ""))
        (started if "startup" in kind else stopped).set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), 60)
    if failure:
        raise RuntimeError(f"startup failed: {failure[0][-1500:]}")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(stopped.wait(), 60)
        await asyncio.gather(task, return_exceptions=True)


def auth(
    settings: Settings, role: Role, subject: str = "tester", sites: str = "*"
) -> dict[str, str]:
    token = mint_token(settings, subject, role, sites.split(","))
    return {"Authorization": f"Bearer {token}"}


async def eventually(
    probe: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.2
) -> Any:
    """Poll `probe` until it returns a truthy value; fail with its last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def produce(bootstrap: str, topic: str, value: bytes, key: str, **headers: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
        )
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    key: str,
    want: int = 1,
    timeout: float = 30.0,
    group: str | None = None,
) -> list[tuple[dict[str, str], bytes]]:
    """Messages with `key` on `topic` from the beginning: (headers, value). With `group`,
    only dead letters from that consumer group count towards `want`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[tuple[dict[str, str], bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < want and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found += [
                    ({k: v.decode() for k, v in r.headers}, r.value)
                    for r in records
                    if r.key == key.encode() and _from_group(r.headers, group)
                ]
    finally:
        await consumer.stop()
    return found


def _from_group(headers: Any, group: str | None) -> bool:
    return group is None or (("dlq.consumer_group", group.encode()) in list(headers))


def events_of(messages: list[tuple[dict[str, str], bytes]]) -> list[dict[str, Any]]:
    return [json.loads(value) for _, value in messages]


async def read_all(
    bootstrap: str, topic: str, partitions: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every event on `topic` (of `partitions` partitions) up to its current end, as JSON, in
    no particular order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        events: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while [p for p, end in ends.items() if await consumer.position(p) < end]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic} not read to its end within {timeout}s")
            batch = await consumer.getmany(timeout_ms=500)
            events += [json.loads(r.value) for records in batch.values() for r in records]
        return events
    finally:
        await consumer.stop()


async def quiet(settings: Settings) -> bool:
    """Nothing of the deployment is in flight: every consumer group has committed every
    message of every topic it reads, and no outbox holds an event. Commits come after effects
    and effects store their events with them, so when both hold nothing more will happen
    until the next command or clock."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()
                  if str(g[0]).startswith(f"{settings.deployment}-")]  # fmt: skip
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed))
            if any(meta.offset < ends[tp] for tp, meta in committed.items()):
                return False
    finally:
        await consumer.stop()
        await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        for name in await client.list_database_names():
            if not name.startswith(f"{settings.deployment}_"):
                continue
            for collection in await client[name].list_collection_names():
                if await client[name][collection].find_one({"outbox_pending": True}):
                    return False
    finally:
        await client.close()
    return True
