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

import contextlib
import hashlib
import json
import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts import EventBase
from services.journey import domain
from services.journey.domain import Journey
from services.runtime.aggregate import AggregateStore
from services.runtime.mongo import Document

POINTER_TTL_S = 1.0
SETTLE_S = 2 * POINTER_TTL_S
META = "journey_meta"
FIRST_GENERATION = "journeys"
INDEXES = ("site_id", "phase", "coach_id")


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

    async def ensure_indexes(self) -> None:
        await (await self.active()).ensure_indexes()

    async def apply(self, event: EventBase) -> None:
        """Project `event` into the active generation and, during a rebuild, the new one."""
        pointer = await self.pointer()
        for name in filter(None, (pointer["active"], pointer["building"])):
            await project(self.store(name), event)

    async def begin_building(self) -> AggregateStore[Journey]:
        pointer = await self.pointer()
        generation = pointer["generation"] + 1
        name = f"journeys_g{generation}"
        await self.db.drop_collection(name)
        store = self.store(name)
        await store.ensure_indexes()
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
        keep = {store.collection.name, retired}
        for name in await self.db.list_collection_names():
            if name.startswith(FIRST_GENERATION) and name not in keep:
                await self.db.drop_collection(name)
                self._stores.pop(name, None)
        return retired

    async def abandon_building(self) -> None:
        await self.meta.update_one({"_id": "journeys"}, {"$set": {"building": None}})
        self._pointer = None


async def project(store: AggregateStore[Journey], event: EventBase) -> None:
    await store.apply(
        event.patient_id,
        lambda journey: (domain.add(journey, event.patient_id, event), []),
        inbox=[str(event.event_id)],
    )


async def project_batch(store: AggregateStore[Journey], events: list[EventBase]) -> None:
    """Project a replay batch: one load and one commit per patient."""
    by_patient: dict[str, list[EventBase]] = {}
    for event in events:
        by_patient.setdefault(event.patient_id, []).append(event)
    for patient_id, theirs in by_patient.items():
        await store.apply(
            patient_id,
            lambda journey, fresh, pid=patient_id: (domain.add_all(journey, pid, fresh), []),  # type: ignore[misc]
            incoming=theirs,
        )


async def content_hash(store: AggregateStore[Journey]) -> tuple[int, str]:
    """(documents, sha256 of every journey's state in _id order): equal content, equal hash."""
    digest = hashlib.sha256()
    count = 0
    async for doc in store.collection.find({}, {"state": 1}).sort("_id", 1):
        digest.update(json.dumps(doc["state"], sort_keys=True, default=str).encode())
        count += 1
    return count, digest.hexdigest()


def as_dict(pointer: Document) -> dict[str, Any]:
    return {k: pointer.get(k) for k in ("active", "building", "generation")}
