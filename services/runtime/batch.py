"""Batched consumption: a FastStream batch subscriber whose records are grouped by aggregate.

One fetch of up to `max_records` records is handled as a unit:

- every record is decoded and parsed first; a poison record (not JSON, off contract) is
  dead-lettered alone, a type this build does not know is ignored (counted), as the
  one-at-a-time consumer does (`services.runtime.consumer`);
- the good events are grouped by aggregate (the Kafka key, `patient_id`), in offset order;
  with an `ApplyAll`, the groups are first stored together (`services.runtime.bulk`: one
  insert of the new aggregates, a replace of each stored one), and only the groups it did not
  store (a lost compare-and-set, an event that fails to
  project) are handed to `ApplyGroup`, concurrently, so an aggregate gets one load and one
  commit per batch, its inbox recording every event id;
- a group whose handling fails is retried up to `max_attempts`; if it still fails, its
  events are applied one at a time so only the event that fails is dead-lettered and the
  others commit;
- database or broker outages are re-raised: the subscriber's NACK_ON_ERROR policy rewinds
  every partition of the batch and the whole batch is redelivered; the inboxes make what was
  already stored a no-op.

Offsets are committed by FastStream only when the handler returns, i.e. after every effect
of the batch is stored (DESIGN: offsets are committed after the effect is stored).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from contracts import EventBase, parse_event
from contracts.catalog import UnknownEventType
from services.runtime.consumer import decode, ignore
from services.runtime.dead_letter import POISON, outage
from services.runtime.logging import get_logger
from services.runtime.tracing import consuming

if TYPE_CHECKING:
    from services.runtime.dead_letter import DeadLetterPolicy
    from services.runtime.metrics import Metrics

log = get_logger(__name__)

ApplyGroup = Callable[[str, Sequence[EventBase]], Awaitable[None]]
"""Store the effect of one aggregate's events (in offset order) with one commit."""

ApplyAll = Callable[[Mapping[str, Sequence[EventBase]]], Awaitable[Collection[str]]]
"""Store the effect of many aggregates' events together (`services.runtime.bulk`); return
the aggregates stored. The others go through `ApplyGroup`, which retries them and isolates a
failing event."""


@dataclass(frozen=True)
class One:
    """One record of a batch, shaped like the single message the dead-letter policy and the
    ignore log read (`raw_message` is the Kafka record)."""

    raw_message: Any


@dataclass
class BatchConsumer:
    group: str
    apply: ApplyGroup
    dead_letters: DeadLetterPolicy
    metrics: Metrics | None = None
    concurrency: int = 16
    apply_all: ApplyAll | None = None
    _limit: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._limit = asyncio.Semaphore(self.concurrency)

    def _count(self, topic: str, outcome: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.consumed.labels(topic, f"{self.group}.{topic}", outcome).inc(n)

    async def consume(self, records: Sequence[Any]) -> None:
        """Handle one fetched batch; returns once every effect is stored or dead-lettered."""
        groups: dict[str, list[tuple[Any, EventBase]]] = {}
        for record in records:
            event = await self._parse(record)
            if event is not None:
                groups.setdefault(event.patient_id, []).append((record, event))
        started = time.perf_counter()
        stored = await self._all(groups)
        await asyncio.gather(
            *(self._group(key, found) for key, found in groups.items() if key not in stored)
        )
        if self.metrics is not None and records:
            topic = records[0].topic
            self.metrics.handler_duration.labels(topic, f"{self.group}.{topic}").observe(
                time.perf_counter() - started
            )

    async def _parse(self, record: Any) -> EventBase | None:
        group = f"{self.group}.{record.topic}"
        try:
            data = decode(record.value or b"")
        except POISON as error:
            await self._dead_letter(record, error, 1)
            return None
        try:
            return parse_event(data)
        except UnknownEventType:
            ignore(group, "unknown_event_type", data["event_type"], One(record))  # type: ignore[arg-type]
            self._count(record.topic, "ignored")
        except POISON as error:
            await self._dead_letter(record, error, 1)
        return None

    async def _all(self, groups: dict[str, list[tuple[Any, EventBase]]]) -> Collection[str]:
        """The groups `ApplyAll` stored (none without one). An outage is
        re-raised (the batch is redelivered); any other failure leaves every group to the
        one-at-a-time path. The writes run in the consumer span of the batch's last record
        (they serve every record, and one trace must hold them); each other stored record
        gets its own consumer span."""
        if self.apply_all is None or not groups:
            return ()
        last, event = list(groups.values())[-1][-1]
        try:
            with consuming(last, f"{self.group}.{last.topic}", event.event_type):
                stored = await self.apply_all(
                    {k: [e for _, e in found] for k, found in groups.items()}
                )
        except Exception as error:
            if outage(error):
                await asyncio.sleep(self.dead_letters.backoff_s)
                raise
            log.warning("batch_bulk_failed", error_class=type(error).__name__)
            return ()
        for key in stored:
            for record, each in groups[key]:
                if record is not last:
                    with consuming(record, f"{self.group}.{record.topic}", each.event_type):
                        pass
            self._count(groups[key][0][0].topic, "handled", len(groups[key]))
        return stored

    async def _group(self, key: str, found: list[tuple[Any, EventBase]]) -> None:
        """All of one aggregate's events in one commit; on a lasting failure, one by one."""
        events = [event for _, event in found]
        record, last = found[-1]
        for earlier, event in found[:-1]:
            with consuming(earlier, f"{self.group}.{earlier.topic}", event.event_type):
                pass
        async with self._limit:
            with consuming(record, f"{self.group}.{record.topic}", last.event_type):
                error = await self._attempts(key, events)
            if error is None:
                self._count(found[0][0].topic, "handled", len(found))
                return
            if len(found) == 1:
                await self._dead_letter(found[0][0], error, self.dead_letters.max_attempts)
                return
            log.warning("batch_group_failed", aggregate_events=len(found),
                        error_class=type(error).__name__)  # fmt: skip
            for record, event in found:
                single = await self._attempts(key, [event])
                if single is None:
                    self._count(record.topic, "handled")
                else:
                    await self._dead_letter(record, single, self.dead_letters.max_attempts)

    async def _attempts(self, key: str, events: Sequence[EventBase]) -> Exception | None:
        """Apply with bounded retries: None when stored, else the last error. Outages are
        re-raised so the batch is redelivered rather than dead-lettered."""
        last: Exception | None = None
        for attempt in range(1, self.dead_letters.max_attempts + 1):
            try:
                await self.apply(key, events)
                return None
            except Exception as error:
                if outage(error):
                    await asyncio.sleep(self.dead_letters.backoff_s)
                    raise
                last = error
                if attempt < self.dead_letters.max_attempts:
                    await asyncio.sleep(self.dead_letters.backoff_s * attempt)
        return last

    async def _dead_letter(self, record: Any, error: BaseException, attempts: int) -> None:
        message: StreamMessage[Any] = One(record)  # type: ignore[assignment]
        self.dead_letters.failed(message, error)
        await self.dead_letters.dead_letter(message, error, attempts)


async def raw_records(msg: StreamMessage[Any], _original: Any = None) -> Any:
    """A decoder handing the subscriber the batch's Kafka records themselves (topic,
    partition, offset and key are needed to group and to dead-letter one record)."""
    return list(_flat(msg.raw_message))


def _flat(raw: Any) -> Iterator[Any]:
    """The records of a batch (FastStream's test broker nests them one level deeper)."""
    if isinstance(raw, (tuple, list)):
        for item in raw:
            yield from _flat(item)
    else:
        yield raw


@dataclass(frozen=True)
class BatchSettings:
    max_records: int = 500
    timeout_ms: int = 20
    fetch_max_wait_ms: int = 50


def subscribe_batch(
    broker: KafkaBroker,
    topic: str,
    consumer: BatchConsumer,
    settings: BatchSettings,
    description: str,
) -> None:
    """Register a batch subscriber for `topic` in its own consumer group `<group>.<topic>`."""

    async def consume_batch(records: Annotated[Any, Body()]) -> None:
        await consumer.consume(records)

    consume_batch.__name__ = f"{consumer.group}_{topic}_batch".replace(".", "_").replace("-", "_")
    broker.subscriber(
        topic,
        batch=True,
        max_records=settings.max_records,
        batch_timeout_ms=settings.timeout_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        group_id=f"{consumer.group}.{topic}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_records,
        description=description,
    )(consume_batch)
