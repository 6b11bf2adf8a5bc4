"""One MongoDB document per aggregate holding its state, the ids of events it has
processed (inbox) and the events it still has to publish (outbox).

Writing all three in one conditional replace gives idempotent consumers and a lossless outbox
without transactions (DESIGN: events and messaging rules). `version` is the compare-and-set
token between writers: every write is a filtered `{_id, version}` replace or update, atomic on
MongoDB and, through the version guard the local launcher installs, on FerretDB over
PostgreSQL (a stale write there is refused rather than unmatched; both mean ConcurrentUpdate).

This module is a little over the 300 lines the style guide aims for, on purpose: the write
path (`apply`) and the relay's clearing of the outbox share the lock and the compare-and-set,
and reading them apart would hide how an outbox entry is published exactly once per write.

Inside one process, writers of one aggregate (command, event handler, outbox relay) also take
that aggregate's lock. Correctness does not need it; it turns a same-process race, which
would cost a wasted load and decision, into a short wait, so only writers in other instances
ever retry.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts import EventBase
from services.runtime.documents import (
    oldest,
    outbox_entry,
    replace_if_version,
    update_if_version,
    utc,
)
from services.runtime.locks import KeyedLocks
from services.runtime.logging import get_logger
from services.runtime.mongo import Document

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=EventBase)
log = get_logger(__name__)
Publish = Callable[[Document], Awaitable[Any]]


DUPLICATES: Counter[tuple[str, str]] = Counter()
"""Incoming events found in an inbox and skipped (idempotent consumer), by (database,
collection)."""


class ConcurrentUpdate(Exception):
    """Another writer changed the aggregate between our load and our write."""


ATTEMPTS = 10
BACKOFF_BASE_S = 0.005
BACKOFF_CAP_S = 0.25


async def lost_race(key: str, attempt: int) -> None:
    """Before retrying a lost compare-and-set: a random wait that doubles with each loss
    (full jitter), so writers in different instances stop colliding in lockstep. Ten
    attempts wait about 0.6 s in all on average, at most 1.2 s."""
    log.info("compare_and_set_lost", aggregate=key, attempt=attempt)
    await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))


@dataclass(frozen=True)
class Loaded(Generic[S]):
    key: str
    version: int
    state: S | None
    processed: frozenset[str]
    outbox: tuple[Document, ...]


@dataclass(frozen=True)
class Applied(Generic[S]):
    state: S | None
    events: tuple[EventBase, ...]
    duplicate: bool


Outcome = tuple[S, Sequence[EventBase]]
Decide = Callable[[S | None], "Outcome[S] | Awaitable[Outcome[S]]"]
"""The decision of one write: the state as stored (None when new) in, the new state and the
events to publish out. It may be async when deciding needs reads (scheduling's occupancy)."""
DecideBatch = Callable[[S | None, Sequence[E]], Outcome[S]]
"""The decision of one write for a batch of incoming events: only those not yet processed."""
Hold = Callable[[S, Sequence[EventBase]], AbstractAsyncContextManager[Any]]
"""A step between decide and commit, entered before the commit and left after it: it takes
what the decision needs outside the aggregate (scheduling's slot reservations) and, when the
commit fails, undoes it. Raising `Retry` on entry asks for a fresh load and decision."""
Indexed = Callable[[S], Document]
"""Top-level fields written with the state in the same replace, for the queries (sweeps,
dashboards) that must not read the state."""


class Retry(Exception):
    """Raised by a `Hold` on entry: something outside the aggregate changed under the decision
    (a slot another instance took); load and decide again."""


class AggregateStore(Generic[S]):
    """State + inbox + outbox of one kind of aggregate, in one collection, and the one write
    path every command, event handler and sweep goes through (`apply`)."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        state_type: type[S],
        indexes: Sequence[str] = (),
        indexed: Indexed[S] | None = None,
    ) -> None:
        self.collection = collection
        self.state_type = state_type
        self.indexes = ("outbox_pending", *indexes)
        self.indexed = indexed
        self.on_commit: Callable[[], None] = lambda: None
        self.locks = KeyedLocks()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.orphaned_after = timedelta(seconds=5)
        self._committed: set[str] = set()

    def _duplicate(self) -> None:
        database = getattr(getattr(self.collection, "database", None), "name", "")
        DUPLICATES[(database, getattr(self.collection, "name", ""))] += 1

    async def ensure_indexes(self) -> None:
        for field in self.indexes:
            await self.collection.create_index(field)

    async def load(self, key: str) -> Loaded[S]:
        doc = await self.collection.find_one({"_id": key})
        if doc is None:
            return Loaded(key, 0, None, frozenset(), ())
        return Loaded(
            key=key,
            version=doc["version"],
            state=self.state_type.model_validate(doc["state"]),
            processed=frozenset(doc.get("processed", ())),
            outbox=tuple(doc.get("outbox", ())),
        )

    async def commit(
        self,
        loaded: Loaded[S],
        state: S,
        events: Sequence[EventBase],
        processed_ids: Iterable[str] = (),
    ) -> None:
        """Write state, new outbox entries and the processed event ids in one atomic step."""
        now = self.clock()
        outbox = [*loaded.outbox, *(outbox_entry(e, now) for e in events)]
        processed = sorted(loaded.processed | set(processed_ids))
        doc: Document = {
            "_id": loaded.key,
            "version": loaded.version + 1,
            "state": state.model_dump(mode="json"),
            "processed": processed,
            "outbox": outbox,
            "outbox_pending": bool(outbox),
            "outbox_since": oldest(outbox),
            **(self.indexed(state) if self.indexed else {}),
        }
        if loaded.version == 0:
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError as error:
                raise ConcurrentUpdate(loaded.key) from error
        elif not await replace_if_version(self.collection, loaded.key, loaded.version, doc):
            raise ConcurrentUpdate(loaded.key)
        if events:
            self._committed.add(loaded.key)
            self.on_commit()

    @overload
    async def apply(
        self,
        key: str,
        decide: Decide[S],
        *,
        inbox: Sequence[str] = (),
        hold: Hold[S] | None = None,
        attempts: int = ATTEMPTS,
    ) -> Applied[S]: ...

    @overload
    async def apply(
        self,
        key: str,
        decide: DecideBatch[S, E],
        *,
        incoming: Sequence[E],
        hold: Hold[S] | None = None,
        attempts: int = ATTEMPTS,
    ) -> Applied[S]: ...

    async def apply(
        self,
        key: str,
        decide: Any,
        *,
        inbox: Sequence[str] = (),
        incoming: Sequence[EventBase] | None = None,
        hold: Hold[S] | None = None,
        attempts: int = ATTEMPTS,
    ) -> Applied[S]:
        """Load, decide, (hold,) commit; retried on a concurrent update and on `Retry`.

        `inbox` holds the ids of what caused this write (an incoming event, an HTTP command's
        Idempotency-Key): when all are already in the aggregate's inbox the write is
        acknowledged without a second effect (idempotent consumer); otherwise they join the
        inbox in the same commit. With `incoming` (a batch of events of this aggregate, e.g.
        a replay) `decide(state, fresh)` sees only the events not yet in the inbox, and all
        their ids join it. A decision that changes nothing and emits nothing, with no id to
        record, writes nothing (a sweep with nothing due)."""
        async with self.locks.hold(key):
            for attempt in range(attempts):
                loaded = await self.load(key)
                if incoming is not None:
                    fresh = unseen(incoming, loaded.processed)
                    ids: Sequence[str] = [str(e.event_id) for e in fresh]
                    decided = decide(loaded.state, fresh) if fresh else None
                else:
                    ids = [i for i in inbox if i not in loaded.processed]
                    decided = decide(loaded.state) if ids or not inbox else None
                if decided is None:
                    self._duplicate()
                    return Applied(loaded.state, (), duplicate=True)
                state, events = await decided if inspect.isawaitable(decided) else decided
                if not ids and not events and state == loaded.state:
                    return Applied(state, (), duplicate=False)
                try:
                    async with hold(state, events) if hold else _nothing():
                        await self.commit(loaded, state, events, ids)
                except (ConcurrentUpdate, Retry):
                    await lost_race(key, attempt)
                    continue
                return Applied(state, tuple(events), duplicate=False)
        raise ConcurrentUpdate(key)

    async def sweep(self, query: Document, decide: Callable[[S], Outcome[S]],
                    limit: int = 500) -> int:  # fmt: skip
        """Apply `decide` to each aggregate the indexed `query` finds (a clock-driven rule);
        returns how many events fired. `decide` re-checks under the lock that the item is still
        due, so sweepers in two instances fire it once (see `services.runtime.sweeper`)."""
        found = self.collection.find(query, {"_id": 1}).limit(limit)
        fired = 0
        for key in sorted([str(doc["_id"]) async for doc in found]):
            applied = await self.apply(key, partial(_existing, decide))
            fired += len(applied.events)
        return fired

    async def relay_outbox(self, publish: Publish, batch: int = 100) -> int:
        """Publish pending outbox entries in order, then clear exactly those (under the lock).

        A process relays what it committed itself at once, and another's outbox only once it
        has waited `orphaned_after` (that instance died or lost its broker): two instances
        do not both publish every event. A crash between publishing and clearing
        republishes later: at-least-once, and consumers are idempotent.
        """
        published = 0
        mine = list(self._committed)[:batch]
        self._committed.difference_update(mine)
        for key in dict.fromkeys([*mine, *await self._orphans(batch)]):
            async with self.locks.hold(key):
                doc = await self.collection.find_one({"_id": key}, {"outbox": 1, "version": 1})
                if doc is None or not doc.get("outbox"):
                    continue
                for entry in doc["outbox"]:
                    await publish(entry)
                published += len(doc["outbox"])
                await self._clear(key, doc, {entry["event_id"] for entry in doc["outbox"]})
        return published

    async def _clear(self, key: str, doc: Document, sent: set[str]) -> None:
        """Remove the published entries, keeping any another instance appended meanwhile;
        a lost compare-and-set re-reads and tries again, so nothing is published twice just
        because a write came in between."""
        for attempt in range(ATTEMPTS):
            left = [entry for entry in doc["outbox"] if entry["event_id"] not in sent]
            fields = {"outbox": left, "outbox_pending": bool(left), "outbox_since": oldest(left)}
            if await update_if_version(self.collection, key, doc["version"], fields):
                return
            await lost_race(key, attempt)
            found = await self.collection.find_one({"_id": key}, {"outbox": 1, "version": 1})
            if found is None:
                return
            doc = found

    async def _orphans(self, batch: int) -> list[str]:
        """Keys whose outbox has waited longer than `orphaned_after` for its relay."""
        before = self.clock() - self.orphaned_after
        pending = self.collection.find({"outbox_pending": True}, {"outbox_since": 1}).limit(batch)
        return [doc["_id"] async for doc in pending if utc(doc.get("outbox_since")) <= before]


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def _existing(decide: Callable[[S], Outcome[S]], state: S | None) -> Outcome[S]:
    if state is None:
        raise LookupError("swept aggregate vanished")  # only a deleted document; never routine
    return decide(state)


def unseen(incoming: Sequence[E], processed: frozenset[str]) -> list[E]:
    """The events of `incoming` not in `processed`, each once, in order."""
    unique = {str(e.event_id): e for e in incoming}
    return [e for event_id, e in unique.items() if event_id not in processed]
