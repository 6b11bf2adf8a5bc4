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
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
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
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=REPLAY_BATCH)
            events = [
                event
                for tp, records in batch.items()
                for record in records
                if record.offset < end[tp] and (event := _parse(record.value, progress))
            ]
            await project_batch(store, projections.summaries_of(store.collection.name), events)
            progress.replayed += len(events)
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        await projections.switch_to(store)
        progress.patients, progress.content_hash = await content_hash(store)
        progress.state = "done"
    except Exception as error:
        progress.state, progress.error = "failed", type(error).__name__
        await projections.abandon_building()
        raise
    finally:
        await consumer.stop()
        progress.seconds = time.monotonic() - progress.started_at
        progress.events_per_second = progress.replayed / progress.seconds if progress.seconds else 0
        progress.history.append(progress.view())
        log.info("projection_rebuilt", **{k: v for k, v in progress.view().items() if k != "error"})


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
