"""What `kap status` reports: each service's health, readiness, lag and outbox, and the
dead-letter topics, read from the services' own endpoints and from Kafka."""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from contracts import Topic, dlq
from services.runtime.lag import partitions
from services.runtime.redrive import pending_letters
from services.runtime.settings import SERVICE_PORTS, Settings


def service_url(name: str) -> str:
    """`KAP_<NAME>_URL`, else the local stack's port on 127.0.0.1."""
    return os.environ.get(f"KAP_{name.upper()}_URL", f"http://127.0.0.1:{SERVICE_PORTS[name]}")


@dataclass
class ServiceStatus:
    name: str
    url: str
    healthy: bool = False
    ready: bool = False
    down: list[str] = field(default_factory=list)
    lag: float | None = None
    outbox_pending: float | None = None
    outbox_oldest_s: float | None = None
    dead_letters_written: float | None = None
    error: str | None = None


@dataclass
class DeadLetterStatus:
    topic: str
    letters: int
    not_redriven: int


def sums(text: str) -> dict[str, float]:
    """Sample totals by name, and `<name>:max` for the largest sample."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name] = found.get(sample.name, 0.0) + sample.value
            found[f"{sample.name}:max"] = max(found.get(f"{sample.name}:max", 0.0), sample.value)
    return found


async def probe(http: httpx.AsyncClient, name: str) -> ServiceStatus:
    status = ServiceStatus(name, service_url(name))
    try:
        status.healthy = (await http.get(f"{status.url}/healthz")).status_code == 200
        ready = await http.get(f"{status.url}/readyz")
        body: dict[str, Any] = ready.json()
        status.ready = bool(body.get("ready"))
        status.down = list(body.get("down") or [k for k, ok in body["checks"].items() if not ok])
        metrics = await http.get(f"{status.url}/metrics")
        if metrics.status_code == 200:
            values = sums(metrics.text)
            status.lag = values.get("kap_consumer_lag")
            status.outbox_pending = values.get("kap_outbox_pending_aggregates")
            status.outbox_oldest_s = values.get("kap_outbox_oldest_age_seconds:max")
            status.dead_letters_written = values.get("kap_dead_letters_written_total", 0.0)
    except httpx.HTTPError as error:
        status.error = type(error).__name__
    return status


async def dead_letter_topics(settings: Settings) -> list[DeadLetterStatus]:
    topics = [dlq(settings.kafka_topic_prefix + topic) for topic in Topic]
    tps = await partitions(settings, topics)
    if not tps:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    found: list[DeadLetterStatus] = []
    for topic in sorted({tp.topic for tp in tps}, key=topics.index):
        letters = sum(ends[tp] - begins[tp] for tp in tps if tp.topic == topic)
        pending = (await pending_letters(settings, topic))[0] if letters else []
        found.append(DeadLetterStatus(topic, letters, len(pending)))
    return found


async def gather(settings: Settings) -> dict[str, Any]:
    """Everything `kap status` shows, as plain data (`--json` prints it as is)."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        services = await asyncio.gather(*(probe(http, name) for name in SERVICE_PORTS))
    try:
        letters: list[DeadLetterStatus] | None = await asyncio.wait_for(
            dead_letter_topics(settings), timeout=15
        )
        kafka_error = None
    except Exception as error:
        letters, kafka_error = None, type(error).__name__
    return {
        "services": [asdict(s) for s in services],
        "dead_letters": None if letters is None else [asdict(d) for d in letters],
        "kafka_error": kafka_error,
        "ok": all(s.ready for s in services),
    }
