"""Relays outbox entries to Kafka and clears them once the broker has acknowledged them.

A crash after publishing and before clearing republishes on restart: delivery is
at-least-once and every consumer is idempotent, so nothing is lost and nothing doubles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.runtime.logging import get_logger
from services.runtime.mongo import Document

log = get_logger(__name__)

Publish = Callable[[Document], Awaitable[Any]]


class OutboxRelay:
    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        publish: Publish,
        poll_interval_s: float = 0.5,
        batch: int = 100,
    ) -> None:
        self.collections = list(collections)
        self.publish = publish
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """Called after a commit with new events, so they leave without waiting for a poll."""
        self._wake.set()

    async def drain_once(self) -> int:
        published = 0
        for collection in self.collections:
            cursor = collection.find({"outbox_pending": True}, {"outbox": 1, "version": 1})
            async for doc in cursor.limit(self.batch):
                published += await self._relay_document(collection, doc)
        return published

    async def _relay_document(self, collection: AsyncCollection[Document], doc: Document) -> int:
        sent: set[str] = set()
        current: Document | None = doc
        while current is not None:
            doc = current
            for entry in doc.get("outbox", ()):
                if entry["event_id"] not in sent:
                    await self.publish(entry)
                    sent.add(entry["event_id"])
            remaining = [e for e in doc.get("outbox", ()) if e["event_id"] not in sent]
            result = await collection.update_one(
                {"_id": doc["_id"], "version": doc["version"]},
                {
                    "$set": {"outbox": remaining, "outbox_pending": bool(remaining)},
                    "$inc": {"version": 1},
                },
            )
            if result.matched_count == 1:
                break
            current = await collection.find_one({"_id": doc["_id"]}, {"outbox": 1, "version": 1})
        return len(sent)

    async def run(self) -> None:
        while True:
            try:
                await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("outbox_relay_failed", error_class=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            self._wake.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
