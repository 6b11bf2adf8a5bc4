"""Generations of the journey projection and the pointer that says which one reads use.

Reads always go to the *active* generation. A rebuild fills a *building* generation while the
live consumer writes every new event into both, then flips the pointer in one write: reads
never see a half-built projection. All writers of a generation share one store (and so one
per-patient lock) inside the journey process.

Each process re-reads the pointer at most every `POINTER_TTL_S`; a rebuild waits
`SETTLE_S` after announcing its generation before it snapshots the topics' end offsets, so
by then every instance dual-writes whatever the snapshot does not cover.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import EventBase
from services.journey import domain
from services.journey.domain import Journey
from services.journey.queries import SUMMARY_INDEXES, summary_of
from services.runtime.aggregate import AggregateStore
from services.runtime.bulk import apply_many, insert_all
from services.runtime.mongo import Document

POINTER_TTL_S = 1.0
SETTLE_S = 2 * POINTER_TTL_S
META = "journey_meta"
FIRST_GENERATION = "journeys"
INDEXES = ("site_id", "phase", "coach_id")
SUMMARY = "_summary"
"""Suffix of the collection holding a generation's per-patient summaries (`queries`)."""
PARALLEL = 16
"""Aggregates of one batch loaded and committed concurrently."""


class Projections:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.meta = db[META]
        self._stores: dict[str, AggregateStore[Journey]] = {}
        self._pointer: Document | None = None
        self._read_at = 0.0

    def store(self, collection: str) -> AggregateStore[Journey]:
        if collection not in self._stores:
            store = AggregateStore(self.db[collection], Journey, INDEXES, domain.indexed)
            self._stores[collection] = store
        return self._stores[collection]

    async def pointer(self) -> Document:
        """The generation pointer, re-read at most every POINTER_TTL_S."""
        if self._pointer is None or time.monotonic() - self._read_at > POINTER_TTL_S:
            self._pointer = await self._read_pointer()
            self._read_at = time.monotonic()
        return self._pointer

    async def _read_pointer(self) -> Document:
        found = await self.meta.find_one({"_id": "journeys"})
        if found is None:
            with contextlib.suppress(DuplicateKeyError):
                await self.meta.insert_one(
                    {
                        "_id": "journeys",
                        "active": FIRST_GENERATION,
                        "building": None,
                        "generation": 0,
                    }
                )
            found = await self.meta.find_one({"_id": "journeys"})
        assert found is not None
        return found

    async def active(self) -> AggregateStore[Journey]:
        return self.store((await self.pointer())["active"])

    async def summaries(self) -> AsyncCollection[Document]:
        """The active generation's per-patient summaries, which dashboards and queues read."""
        return self.summaries_of((await self.pointer())["active"])

    async def ensure_indexes(self) -> None:
        store = await self.active()
        await store.ensure_indexes()
        await summary_indexes(self.summaries_of(store.collection.name))

    async def apply(self, event: EventBase) -> None:
        """Project `event` into the active generation and, during a rebuild, the new one."""
        await self.apply_batch(event.patient_id, [event])

    async def apply_batch(self, patient_id: str, events: Sequence[EventBase]) -> None:
        """Project one patient's events of a batch: one commit per generation."""
        pointer = await self.pointer()
        for name in filter(None, (pointer["active"], pointer["building"])):
            await project_group(self.store(name), self.summaries_of(name), patient_id, events)

    async def apply_all(self, batches: Mapping[str, Sequence[EventBase]]) -> set[str]:
        """Project a batch's patients together in each generation (`project_many`); return
        the patients stored in every generation (the caller applies the others one by one)."""
        pointer = await self.pointer()
        stored = set(batches)
        for name in filter(None, (pointer["active"], pointer["building"])):
            stored &= await project_many(self.store(name), self.summaries_of(name), batches)
        return stored

    def summaries_of(self, generation: str) -> AsyncCollection[Document]:
        return self.db[generation + SUMMARY]

    async def begin_building(self) -> AggregateStore[Journey]:
        pointer = await self.pointer()
        generation = pointer["generation"] + 1
        name = f"journeys_g{generation}"
        await self.db.drop_collection(name)
        await self.db.drop_collection(name + SUMMARY)
        store = self.store(name)
        await store.ensure_indexes()
        await summary_indexes(self.summaries_of(name))
        await self.meta.update_one(
            {"_id": "journeys"}, {"$set": {"building": name, "generation": generation}}
        )
        self._pointer = None
        return store

    async def switch_to(self, store: AggregateStore[Journey]) -> str:
        """Make the rebuilt generation the one reads use; return the retired one's name."""
        retired = str((await self.pointer())["active"])
        await self.meta.update_one(
            {"_id": "journeys"}, {"$set": {"active": store.collection.name, "building": None}}
        )
        self._pointer = None
        keep = {n + suffix for n in (store.collection.name, retired) for suffix in ("", SUMMARY)}
        for name in await self.db.list_collection_names():
            if name.startswith(FIRST_GENERATION) and name not in keep:
                await self.db.drop_collection(name)
                self._stores.pop(name, None)
        return retired

    async def abandon_building(self) -> None:
        await self.meta.update_one({"_id": "journeys"}, {"$set": {"building": None}})
        self._pointer = None


async def summary_indexes(summaries: AsyncCollection[Document]) -> None:
    for field in SUMMARY_INDEXES:
        await summaries.create_index(field)


async def project_group(
    store: AggregateStore[Journey],
    summaries: AsyncCollection[Document],
    patient_id: str,
    events: Sequence[EventBase],
) -> None:
    """One load and one commit for a patient's events (their ids join the inbox), then the
    patient's summary. The summary is written again when every event was a duplicate, so a
    crash between the commit and the summary write is repaired by the redelivery."""
    applied = await store.apply(
        patient_id,
        lambda journey, fresh: (domain.add_all(journey, patient_id, fresh), []),
        incoming=events,
    )
    if applied.state is not None:
        await write_summary(summaries, summary_of(applied.state))


async def project_many(
    store: AggregateStore[Journey],
    summaries: AsyncCollection[Document],
    batches: Mapping[str, Sequence[EventBase]],
    *,
    unloaded: bool = False,
) -> set[str]:
    """`project_group` for many patients (`services.runtime.bulk`): one load each (none when
    `unloaded`), one insert of the new journeys and of their summaries, a replace of each other
    one. Returns the patients stored; the others lost a race, already existed (`unloaded`) or
    failed to project, and go through `project_group`."""
    applied = await apply_many(
        store, batches, lambda patient_id, journey, fresh: (
            domain.add_all(journey, patient_id, fresh), []),
        unloaded=unloaded,
    )  # fmt: skip
    created = [summary_of(a.state) for a in applied.values() if a.state and a.created]
    inserted = await insert_all(summaries, created)
    rewritten = [row for i, row in enumerate(created) if i not in inserted]
    rewritten += [summary_of(a.state) for a in applied.values() if a.state and not a.created]
    limit = asyncio.Semaphore(PARALLEL)

    async def rewrite(row: Document) -> None:
        async with limit:
            await write_summary(summaries, row)

    await asyncio.gather(*(rewrite(row) for row in rewritten))
    return set(applied)


def _newer(summary: Document) -> Document:
    return {"_id": summary["_id"], "timeline_length": {"$lt": summary["timeline_length"]}}


async def write_summary(summaries: AsyncCollection[Document], summary: Document) -> None:
    """Replace the patient's summary unless a longer timeline's is already stored (another
    instance got there first): that upsert finds no match and its insert a duplicate id."""
    with contextlib.suppress(DuplicateKeyError):
        await summaries.replace_one(_newer(summary), summary, upsert=True)


async def project_batch(
    store: AggregateStore[Journey], summaries: AsyncCollection[Document], events: list[EventBase]
) -> None:
    """Project a replay batch: the batch's patients together (`project_many`), inserted
    without loads, since the replay reads the topics in step and writes most patients once; a
    patient already in the generation (written by an earlier batch, or by the live consumer's
    dual write) fails its insert and gets its own load and commit."""
    by_patient: dict[str, list[EventBase]] = {}
    for event in events:
        by_patient.setdefault(event.patient_id, []).append(event)
    stored = await project_many(store, summaries, by_patient, unloaded=True)
    limit = asyncio.Semaphore(PARALLEL)

    async def one(patient_id: str, theirs: list[EventBase]) -> None:
        async with limit:
            await project_group(store, summaries, patient_id, theirs)

    await asyncio.gather(
        *(one(pid, theirs) for pid, theirs in by_patient.items() if pid not in stored)
    )


async def content_hash(store: AggregateStore[Journey]) -> tuple[int, str]:
    """(documents, sha256 over every journey's state digest in _id order): equal content, equal
    hash. The digests are ordered here, not the documents by the database: FerretDB sorts in
    memory, after reading every document (23 s of 10,000 journeys, superlinear, in a rebuild
    under load)."""
    states: list[tuple[str, bytes]] = []
    async for doc in store.collection.find({}, {"state": 1}):
        state = json.dumps(doc["state"], sort_keys=True, default=str).encode()
        states.append((str(doc["_id"]), hashlib.sha256(state).digest()))
    digest = hashlib.sha256()
    for _, each in sorted(states):
        digest.update(each)
    return len(states), digest.hexdigest()


def as_dict(pointer: Document) -> dict[str, Any]:
    return {k: pointer.get(k) for k in ("active", "building", "generation")}
