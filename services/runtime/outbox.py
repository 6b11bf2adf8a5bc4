"""Drains every store's outbox to Kafka: on each commit with events (nudge) and on a timer;
publishes each document's entries in order, then clears exactly those.

The timer covers what a nudge cannot: events stored by a process that died before relaying
them, and commits made by another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pymongo.asynchronous.collection import AsyncCollection

from services.runtime.aggregate import (
    ATTEMPTS,
    AggregateStore,
    Publish,
    lost_race,
    oldest,
    utc,
    won,
)
from services.runtime.logging import get_logger
from services.runtime.mongo import Document

log = get_logger(__name__)


async def update_if_version(
    collection: AsyncCollection[Document], key: str, version: int, fields: Document
) -> bool:
    """Set `fields` and bump the version if it is still `version`."""
    update = {"$set": fields, "$inc": {"version": 1}}
    return await won(collection.update_one({"_id": key, "version": version}, update))


async def relay_outbox(store: AggregateStore[Any], publish: Publish, batch: int = 100) -> int:
    """Publish pending outbox entries in order, then clear exactly those (under the lock).

    A process relays what it committed itself at once, and another's outbox only once it
    has waited `orphaned_after` (that instance died or lost its broker): two instances
    do not both publish every event. A crash between publishing and clearing
    republishes later: at-least-once, and consumers are idempotent.
    """
    published = 0
    mine = list(store.committed)[:batch]
    store.committed.difference_update(mine)
    for key in dict.fromkeys([*mine, *await _orphans(store, batch)]):
        async with store.locks.hold(key):
            doc = await store.collection.find_one({"_id": key}, {"outbox": 1, "version": 1})
            if doc is None or not doc.get("outbox"):
                continue
            for entry in doc["outbox"]:
                await publish(entry)
            published += len(doc["outbox"])
            await _clear(store, key, doc, {entry["event_id"] for entry in doc["outbox"]})
    return published


async def _clear(store: AggregateStore[Any], key: str, doc: Document, sent: set[str]) -> None:
    """Remove the published entries, keeping any another instance appended meanwhile;
    a lost compare-and-set re-reads and tries again, so nothing is published twice just
    because a write came in between."""
    for attempt in range(ATTEMPTS):
        left = [entry for entry in doc["outbox"] if entry["event_id"] not in sent]
        fields = {"outbox": left, "outbox_pending": bool(left), "outbox_since": oldest(left)}
        if await update_if_version(store.collection, key, doc["version"], fields):
            return
        await lost_race(key, attempt)
        found = await store.collection.find_one({"_id": key}, {"outbox": 1, "version": 1})
        if found is None:
            return
        doc = found


async def _orphans(store: AggregateStore[Any], batch: int) -> list[str]:
    """Keys whose outbox has waited longer than `orphaned_after` for its relay."""
    before = store.clock() - store.orphaned_after
    pending = store.collection.find({"outbox_pending": True}, {"outbox_since": 1}).limit(batch)
    return [doc["_id"] async for doc in pending if utc(doc.get("outbox_since")) <= before]


@runtime_checkable
class OwnOutbox(Protocol):
    """Something that is not an aggregate store but keeps an outbox of its own (the audit
    trail) and drains it itself."""

    async def relay_outbox(self, publish: Publish, batch: int = ...) -> int: ...


Source = AggregateStore[Any] | OwnOutbox


class OutboxRelay:
    def __init__(
        self,
        stores: Sequence[Source],
        publish: Publish,
        poll_interval_s: float = 0.5,
        batch: int = 100,
    ) -> None:
        self.stores: list[Source] = list(stores)
        self.publish = publish
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """Called after a commit with new events, so they leave without waiting for a poll."""
        self._wake.set()

    async def drain_once(self) -> int:
        return sum([await self._drain(source) for source in self.stores])

    async def _drain(self, source: Source) -> int:
        if isinstance(source, OwnOutbox):
            return await source.relay_outbox(self.publish, self.batch)
        return await relay_outbox(source, self.publish, self.batch)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.drain_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("outbox_relay_failed", error_class=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
