"""Clock-driven rules (BP due at 40 min, forms and tasks overdue) fire from a periodic sweep.

A sweep finds due items with a query, then applies each through the aggregate store, whose
decide function re-checks that the item is still due and marks it fired. That makes a sweep
safe to run in two instances at once: inside one process the aggregate lock serialises them;
across processes the conditional write lets one win (on FerretDB through the launcher's version
guard); and the fired event's id is `stable_id(item, rule)`, so consumers would see one event
even from a double commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.runtime.logging import get_logger

log = get_logger(__name__)

Sweep = Callable[[datetime], Awaitable[int]]
Observe = Callable[[str, str, int], None]
"""Told of each run: (sweeper, outcome `ok`/`failed`, items fired)."""


class Sweeper:
    def __init__(self, name: str, sweep: Sweep, clock: Callable[[], datetime],
                 interval_s: float = 15.0) -> None:  # fmt: skip
        self.name, self.sweep, self.clock, self.interval_s = name, sweep, clock, interval_s
        self.observe: Observe = lambda _name, _outcome, _fired: None
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One sweep at the current clock; returns how many items fired."""
        try:
            fired = await self.sweep(self.clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            self.observe(self.name, "failed", 0)
            raise
        self.observe(self.name, "ok", fired)
        return fired

    async def _run(self) -> None:
        while True:
            try:
                fired = await self.run_once()
                if fired:
                    log.info("sweep_fired", sweeper=self.name, fired=fired)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("sweep_failed", sweeper=self.name, error_class=type(error).__name__)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sweeper-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
