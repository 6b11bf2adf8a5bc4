"""One MongoDB document per aggregate holding its state, the ids of events it has
processed (inbox) and the events it still has to publish (outbox).

Writing all three in one conditional replace gives idempotent consumers and a lossless outbox
without transactions (DESIGN: events and messaging rules). `version` is the compare-and-set
token between writers: every write is a filtered `{_id, version}` replace or update, atomic on
MongoDB and, through the version guard the local launcher installs, on FerretDB over
PostgreSQL (a stale write there is refused rather than unmatched; both mean ConcurrentUpdate).

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
from pymongo.errors import DuplicateKeyError, OperationFailure

from contracts import EventBase, topic_of
from services.runtime.locks import KeyedLocks
from services.runtime.logging import get_logger
from services.runtime.mongo import Document, is_stale_write
from services.runtime.tracing import carrier

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
    created: bool = False
    """This write created the aggregate (set by the batched path, `services.runtime.bulk`)."""


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


def outbox_entry(event: EventBase, stored_at: datetime) -> Document:
    """An event waiting for the relay, with the trace context that caused it (if traced)."""
    entry: Document = {
        "stored_at": stored_at,
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "topic": topic_of(event).value,
        "key": event.patient_id,
        "value": event.model_dump_json(),
    }
    if trace := carrier():
        entry["trace"] = trace
    return entry


async def replace_if_version(
    collection: AsyncCollection[Document], key: str, version: int, doc: Document
) -> bool:
    """Compare-and-set on `version`: replace only if the stored version is still ours."""
    return await won(collection.replace_one({"_id": key, "version": version}, doc))


async def won(write: Awaitable[Any]) -> bool:
    """Whether a `{_id, version}` write won: it matched, and no version guard refused it."""
    try:
        result = await write
    except OperationFailure as error:
        if is_stale_write(error):
            return False
        raise
    return bool(result.matched_count == 1)


def oldest(outbox: Sequence[Document]) -> datetime | None:
    """When the longest-waiting entry was stored (None for an empty outbox)."""
    return min((utc(entry.get("stored_at")) for entry in outbox), default=None)


def utc(value: datetime | None) -> datetime:
    """A stored instant as aware UTC; a missing one counts as long ago."""
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
        self.committed: set[str] = set()

    def count_duplicate(self) -> None:
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

    def document(
        self, loaded: Loaded[S], state: S, events: Sequence[EventBase], processed_ids: Iterable[str]
    ) -> Document:
        """The stored form of one commit: version + 1, state, inbox, outbox, indexed fields."""
        now = self.clock()
        outbox = [*loaded.outbox, *(outbox_entry(e, now) for e in events)]
        return {
            "_id": loaded.key,
            "version": loaded.version + 1,
            "state": state.model_dump(mode="json"),
            "processed": sorted(loaded.processed | set(processed_ids)),
            "outbox": outbox,
            "outbox_pending": bool(outbox),
            "outbox_since": oldest(outbox),
            **(self.indexed(state) if self.indexed else {}),
        }

    def committed_events(self, key: str) -> None:
        """Tell the relay a commit stored new outbox entries for `key`."""
        self.committed.add(key)
        self.on_commit()

    async def commit(
        self,
        loaded: Loaded[S],
        state: S,
        events: Sequence[EventBase],
        processed_ids: Iterable[str] = (),
    ) -> None:
        """Write state, new outbox entries and the processed event ids in one atomic step."""
        doc = self.document(loaded, state, events, processed_ids)
        if loaded.version == 0:
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError as error:
                raise ConcurrentUpdate(loaded.key) from error
        elif not await replace_if_version(self.collection, loaded.key, loaded.version, doc):
            raise ConcurrentUpdate(loaded.key)
        if events:
            self.committed_events(loaded.key)

    @overload
    async def apply(self, key: str, decide: Decide[S], *, inbox: Sequence[str] = (),
                    hold: Hold[S] | None = None, attempts: int = 10) -> Applied[S]: ...  # fmt: skip
    @overload
    async def apply(self, key: str, decide: DecideBatch[S, E], *, incoming: Sequence[E],
                    hold: Hold[S] | None = None) -> Applied[S]: ...  # fmt: skip

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
                    self.count_duplicate()
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
