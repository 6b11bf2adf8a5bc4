"""Rebuild the journey projection by replaying every topic from the beginning.

The replay runs inside the journey service (`POST /admin/rebuild`), so it shares the
per-patient locks with the live consumer; `python -m services.journey.rebuild` starts it and
draws a progress bar until the new generation is switched in.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from contracts import EventBase, Topic, parse_event
from contracts.catalog import UnknownEventType
from services.journey.projections import SETTLE_S, Projections, content_hash, project_batch
from services.runtime.auth import Role, mint_token
from services.runtime.consumer import OffContractMessage, decode
from services.runtime.lag import partitions as topic_partitions
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

log = get_logger(__name__)

REPLAY_BATCH = 5000
"""Records per fetch: a patient's events in one batch are folded into a single commit."""


@dataclass
class Progress:
    state: str = "idle"
    generation: str | None = None
    total: int = 0
    replayed: int = 0
    skipped: int = 0
    started_at: float = 0.0
    seconds: float = 0.0
    events_per_second: float = 0.0
    patients: int = 0
    content_hash: str | None = None
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "history"}


async def replay(projections: Projections, settings: Settings, progress: Progress) -> None:
    """Replay all topics into a fresh generation up to their end offsets, then switch."""
    progress.state, progress.replayed, progress.skipped = "running", 0, 0
    progress.started_at, progress.error = time.monotonic(), None
    store = await projections.begin_building()
    progress.generation = store.collection.name
    await asyncio.sleep(SETTLE_S)
    progress.started_at = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                enable_auto_commit=False, group_id=None)  # fmt: skip
    await consumer.start()
    try:
        topics = [settings.kafka_topic_prefix + topic for topic in Topic]
        partitions = await topic_partitions(settings, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        progress.total = sum(end[tp] - start[tp] for tp in partitions)
        pending = {tp for tp in partitions if end[tp] > start[tp]}
        async for batch in in_step(consumer, pending, end, REPLAY_BATCH):
            events = [event for record in batch if (event := _parse(record.value, progress))]
            await project_batch(store, projections.summaries_of(store.collection.name), events)
            progress.replayed += len(events)
        await projections.switch_to(store)
        progress.seconds = time.monotonic() - progress.started_at
        progress.patients, progress.content_hash = await content_hash(store)
        progress.state = "done"
    except Exception as error:
        progress.state, progress.error = "failed", type(error).__name__
        await projections.abandon_building()
        raise
    finally:
        await consumer.stop()
        if progress.state != "done":  # done: the replay's time, without the hash that checks it
            progress.seconds = time.monotonic() - progress.started_at
        progress.events_per_second = progress.replayed / progress.seconds if progress.seconds else 0
        progress.history.append(progress.view())
        log.info("projection_rebuilt", **{k: v for k, v in progress.view().items() if k != "error"})


async def in_step(
    consumer: AIOKafkaConsumer, reading: set[TopicPartition], end: dict[TopicPartition, int],
    size: int,
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:  # fmt: skip
    """The records of `reading` up to `end`, in batches of about `size` cut at a record time
    every partition still being read has reached: the topics advance together, so a patient's
    events on different topics, written close in time, are in one batch and make one commit
    (fetched as they come, the intake topic ran ahead of scheduling's and nearly every
    patient was written twice at 10,000 patients, once at 1,000: the replay's cost per event
    grew with the number of patients). Each partition's records keep their order."""
    buffered: dict[TopicPartition, deque[ConsumerRecord[bytes, bytes]]] = defaultdict(deque)
    reading = set(reading)
    while reading or any(buffered.values()):
        while (
            reading
            and sum(map(len, buffered.values())) < 4 * size
            and (sum(map(len, buffered.values())) < size or not all(buffered[tp] for tp in reading))
        ):
            fetched = await consumer.getmany(*reading, timeout_ms=1000, max_records=size)
            for tp, records in fetched.items():
                buffered[tp].extend(r for r in records if r.offset < end[tp])
            for tp in list(reading):
                if await consumer.position(tp) >= end[tp]:
                    reading.discard(tp)
        cut = min((buffered[tp][-1].timestamp for tp in reading if buffered[tp]), default=None)
        batch = [r for queue in buffered.values() for r in _until(queue, cut)]
        yield batch or [r for queue in buffered.values() for r in _until(queue, None)]


def _until(
    queue: deque[ConsumerRecord[bytes, bytes]], cut: int | None
) -> Iterator[ConsumerRecord[bytes, bytes]]:
    """Take the records from the head of `queue` up to time `cut` (all of them for None)."""
    while queue and (cut is None or queue[0].timestamp <= cut):
        yield queue.popleft()


def _parse(value: bytes | None, progress: Progress) -> EventBase | None:
    """Parse as the live consumer would; what it dead-lettered or skipped is skipped here."""
    try:
        return parse_event(decode(value or b""))
    except (ValueError, ValidationError, UnknownEventType, OffContractMessage):
        progress.skipped += 1
        return None


def bar(view: dict[str, Any], width: int = 40) -> str:
    done = view["replayed"] + view["skipped"]
    total = max(view["total"], 1)
    filled = int(width * min(done / total, 1.0))
    rate = done / max(time.monotonic() - view.get("_t0", time.monotonic()), 1e-6)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{view['total']} events {rate:,.0f}/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the journey projection from Kafka.")
    parser.add_argument("--url", default="http://127.0.0.1:8005", help="the journey service")
    args = parser.parse_args(argv)
    settings = Settings()
    token = mint_token(settings, "ops-rebuild", Role.OPS, ["*"])
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as http:  # fmt: skip
        before = http.get("/admin/projection", params={"content_hash": True}).json()
        started = http.post("/admin/rebuild")
        if started.status_code >= 400:
            sys.stderr.write(f"rebuild refused: {started.status_code} {started.text}\n")
            return 1
        t0 = time.monotonic()
        while True:
            view = {**http.get("/admin/rebuild").json(), "_t0": t0}
            sys.stderr.write("\r" + bar(view))
            if view["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        sys.stderr.write("\n")
        if view["state"] == "failed":
            sys.stderr.write(f"rebuild failed: {view['error']}\n")
            return 1
        after = http.get("/admin/projection", params={"content_hash": True}).json()
    same = before["content_hash"] == after["content_hash"]
    print(f"replayed {view['replayed']} events ({view['skipped']} skipped as dead letters) "
          f"in {view['seconds']:.1f}s: {view['events_per_second']:,.0f} events/s")  # fmt: skip
    verdict = "unchanged" if same else "changed"
    print(
        f"active generation {before['active']} -> {after['active']}; {after['patients']} "
        f"journeys; content hash {verdict} ({after['content_hash'][:16]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
