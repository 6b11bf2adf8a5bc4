"""Drains every store's outbox to Kafka: on each commit with events (nudge) and on a timer.

The timer covers what a nudge cannot: events stored by a process that died before relaying
them, and commits made by another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

from services.runtime.aggregate import Publish
from services.runtime.logging import get_logger

log = get_logger(__name__)


class HasOutbox(Protocol):
    async def relay_outbox(self, publish: Publish, batch: int = ...) -> int: ...


class OutboxRelay:
    def __init__(
        self,
        stores: Sequence[HasOutbox],
        publish: Publish,
        poll_interval_s: float = 0.5,
        batch: int = 100,
    ) -> None:
        self.stores: list[HasOutbox] = list(stores)
        self.publish = publish
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """Called after a commit with new events, so they leave without waiting for a poll."""
        self._wake.set()

    async def drain_once(self) -> int:
        return sum([await store.relay_outbox(self.publish, self.batch) for store in self.stores])

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
