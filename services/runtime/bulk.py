"""Many aggregates' incoming events in few round trips: the batched form of
`AggregateStore.apply`.

Every aggregate of the batch is loaded by `_id` (concurrently: FerretDB 1.x applies `$in`
after a scan of the whole collection, DESIGN) and decided once on the events not yet in its
inbox. New aggregates are then stored with one unordered insert of all of them (a duplicate
`_id`, reported per document, means another writer created that one first), stored ones
with a compare-and-set replace each, filtered on `{_id, version}`, sent concurrently.

Replaces are not put in one bulk: FerretDB 1.24 keeps a PostgreSQL connection for every
statement of an `update` command until the command ends, so one bulk of more statements than
its pool (50) waits forever for a connection (found by this module's first version: the
journey's bench hung); and a bulk would hide which replace lost (MongoDB counts an unmatched
replace only in its totals, FerretDB's version guard fails the rest of the command).

Every write's outcome is known per aggregate: `apply_many` returns the aggregates whose effect
is stored, and the caller puts the others (a lost compare-and-set, a decision that raised)
through `AggregateStore.apply`, which loads that aggregate again; nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from contracts import EventBase
from services.runtime.aggregate import (
    AggregateStore,
    Applied,
    Loaded,
    Outcome,
    replace_if_version,
    unseen,
)
from services.runtime.logging import get_logger
from services.runtime.mongo import Document

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=EventBase)
log = get_logger(__name__)

DecideMany = Callable[[str, S | None, Sequence[E]], Outcome[S]]
"""The decision for one aggregate of the batch: its key, its stored state (None when new) and
the incoming events not yet in its inbox, in; the new state and the events to publish, out."""

PARALLEL = 16
"""Loads, and replaces, in flight at once."""
DUPLICATE_KEY = 11000


async def apply_many(
    store: AggregateStore[S],
    incoming: Mapping[str, Sequence[E]],
    decide: DecideMany[S, E],
    parallel: int = PARALLEL,
    *,
    unloaded: bool = False,
) -> dict[str, Applied[S]]:
    """Apply each aggregate's incoming events with one load each, one insert for all the new
    ones and a replace for each stored one; return the aggregates whose effect is stored
    (written now, or already in the inbox). An aggregate whose decision raised, or whose write
    lost a race, is left out.

    `unloaded` skips the loads and decides every aggregate as new, for a writer that expects
    none to exist (a replay into a fresh generation): an aggregate that does exist fails its
    insert on the duplicate `_id` and is left out, so the caller's `apply` loads it."""
    async with store.locks.hold_all(incoming):
        loaded: dict[str, Loaded[S]]
        if unloaded:
            loaded = {key: Loaded(key, 0, None, frozenset(), ()) for key in incoming}
        else:
            loaded = await load_all(store, list(incoming), parallel)
        done: dict[str, Applied[S]] = {}
        decided: dict[str, tuple[S, Sequence[EventBase], Document]] = {}
        for key, events in incoming.items():
            found = loaded[key]
            fresh = unseen(events, found.processed)
            if not fresh:
                store.count_duplicate()
                done[key] = Applied(found.state, (), duplicate=True)
                continue
            try:
                state, emitted = decide(key, found.state, fresh)
            except Exception as error:  # `apply` decides again, retries and isolates the event
                log.info("bulk_decision_failed", aggregate=key, error_class=type(error).__name__)
                continue
            ids = [str(e.event_id) for e in fresh]
            decided[key] = (state, emitted, store.document(found, state, emitted, ids))
        won = await write_all(
            store, {key: (loaded[key], doc) for key, (_, _, doc) in decided.items()}, parallel
        )
        for key in won:
            state, emitted, _ = decided[key]
            created = loaded[key].version == 0
            done[key] = Applied(state, tuple(emitted), duplicate=False, created=created)
            if emitted:
                store.committed_events(key)
    return done


async def load_all(
    store: AggregateStore[S], keys: Sequence[str], parallel: int
) -> dict[str, Loaded[S]]:
    """Each aggregate by `_id`, at most `parallel` loads in flight."""
    limit = asyncio.Semaphore(parallel)

    async def one(key: str) -> Loaded[S]:
        async with limit:
            return await store.load(key)

    return dict(zip(keys, await asyncio.gather(*(one(key) for key in keys)), strict=True))


async def write_all(
    store: AggregateStore[S], writes: Mapping[str, tuple[Loaded[S], Document]], parallel: int
) -> set[str]:
    """Store each `(loaded, new document)`: the new ones with one unordered insert, the others
    with a compare-and-set replace each; return the keys whose write won."""
    new = [key for key, (loaded, _) in writes.items() if loaded.version == 0]
    won = await insert_all(store.collection, [writes[key][1] for key in new])
    limit = asyncio.Semaphore(parallel)

    async def replace(key: str, loaded: Loaded[S], doc: Document) -> bool:
        async with limit:
            return await replace_if_version(store.collection, key, loaded.version, doc)

    stored = [key for key, (loaded, _) in writes.items() if loaded.version]
    replaced = await asyncio.gather(*(replace(key, *writes[key]) for key in stored))
    return {new[i] for i in won} | {key for key, ok in zip(stored, replaced, strict=True) if ok}


async def insert_all(collection: AsyncCollection[Document], docs: Sequence[Document]) -> set[int]:
    """One unordered insert; the positions of the documents stored (a duplicate `_id` is a
    lost race for that document only)."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        failed = {e["index"] for e in error.details.get("writeErrors", ())}
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", ())):
            raise
        log.info("bulk_insert_lost", aggregates=len(failed))
        return set(range(len(docs))) - failed
    return set(range(len(docs)))
