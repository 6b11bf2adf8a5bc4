"""Reservations: the database's guarantee that no chair, room, provider or patient is
double-booked, also across scheduling instances.

One document per (resource, 15-minute slot, seat) whose `_id` encodes all three; inserting
it is atomic on every engine (a unique `_id`), and a second booking of the same seat fails
with a duplicate key. A resource with capacity k (a nurse watching two chairs) has seats 0..k-1.

Crash window: reservations are inserted before the course commits. An intent document
(`reservation_intents`) is written first and removed after the commit; a sweeper releases
reservations of intents older than the grace period whose appointment is not booked there
(`release_orphans`). Until then, a retry for the same appointment reuses its own reservations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.runtime.mongo import Document
from services.scheduling.course import Course
from services.scheduling.decision import Hold
from services.scheduling.errors import SlotTaken
from services.scheduling.network import ClinicNetwork
from services.scheduling.slots import Claim, Occupancy, claims, grid_slots


def reservation_id(resource: str, slot: datetime, seat: int) -> str:
    return f"{resource}@{slot.astimezone(UTC):%Y-%m-%dT%H:%M}#{seat}"


DUPLICATE_KEY = 11000
DELETE_CONCURRENCY = 16


def seat_doc(
    claim: Claim, slot: datetime, seat: int, hold: Hold, patient_id: str, now: datetime
) -> Document:
    return {
        "_id": reservation_id(claim.resource, slot, seat),
        "resource": claim.resource,
        "slot": slot,
        "day": slot.astimezone(UTC).date().isoformat(),
        "seat": seat,
        "appointment_id": hold.appointment_id,
        "patient_id": patient_id,
        "site_id": hold.placement.site_id,
        "held_at": now,
    }


class Reservations:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.slots = db["reservations"]
        self.intents = db["reservation_intents"]

    async def ensure_indexes(self) -> None:
        await self.slots.create_index([("day", 1), ("resource", 1)])
        for field in ("appointment_id", "resource"):
            await self.slots.create_index(field)
        await self.intents.create_index("created_at")

    async def occupancy(
        self, resources: Iterable[str], days: Iterable[date], course: Course | None
    ) -> Occupancy:
        """Taken seats of `resources` on these UTC days: one indexed equality query per day,
        all at once. The patient's own reservations that no booked appointment of `course`
        explains (a crashed attempt) count as free."""
        live = {a.appointment_id for a in course.appointments if a.live} if course else set()
        wanted = sorted(set(resources))
        covers = frozenset(days)
        found = await asyncio.gather(*(self._day(day, wanted) for day in sorted(covers)))
        occupancy = Occupancy(covers=covers)
        for doc in (doc for docs in found for doc in docs):
            if (
                course
                and doc.get("patient_id") == course.patient_id
                and (doc.get("appointment_id") not in live)
            ):
                continue
            key = (doc["resource"], _aware(doc["slot"]))
            occupancy.taken[key] = occupancy.taken.get(key, 0) + 1
        return occupancy

    async def _day(self, day: date, resources: list[str]) -> list[Document]:
        query = {"day": day.isoformat(), "resource": {"$in": resources}}
        projection = {"resource": 1, "slot": 1, "appointment_id": 1, "patient_id": 1}
        return [doc async for doc in self.slots.find(query, projection)]

    async def intend(self, patient_id: str, holds: Sequence[Hold], now: datetime) -> str | None:
        if not holds:
            return None
        intent = str(uuid4())
        await self.intents.insert_one(
            {
                "_id": intent,
                "patient_id": patient_id,
                "created_at": now,
                "appointment_ids": [h.appointment_id for h in holds],
            }
        )
        return intent

    async def done(self, intent: str | None) -> None:
        if intent is not None:
            await self.intents.delete_one({"_id": intent})

    async def take(
        self,
        patient_id: str,
        holds: Sequence[Hold],
        network: ClinicNetwork,
        now: datetime,
        live: set[str],
        replaced: list[Document] | None = None,
        inserted: list[str] | None = None,
    ) -> dict[str, set[str]]:
        """Insert every slot of every hold; all or nothing. Returns the reservation ids per
        appointment; `replaced` collects the patient's own reservations this call took over
        (see `restore`) and `inserted` the ids this call inserted: a seat already held by the
        same appointment id is another attempt's (appointment ids are the same in every
        decision of a course), and only that attempt may free it. Raises SlotTaken (after
        undoing this call's inserts and take-overs) when one is taken."""
        taken: dict[str, set[str]] = {}
        fresh: list[str] = [] if inserted is None else inserted
        took_over: list[Document] = [] if replaced is None else replaced
        wanted = [
            (hold, claim, slot)
            for hold in holds
            for claim in claims(hold.placement, patient_id, network)
            for slot in grid_slots(hold.placement.starts_at, hold.placement.ends_at)
        ]
        try:
            contested = await self._first_seats(wanted, patient_id, now)
            for n, (hold, claim, slot) in enumerate(wanted):
                ids = taken.setdefault(hold.appointment_id, set())
                if n not in contested:
                    ids.add(reservation_id(claim.resource, slot, 0))
                    fresh.append(reservation_id(claim.resource, slot, 0))
                    continue
                rid, new = await self._seat(claim, slot, hold, patient_id, now, live, took_over)
                ids.add(rid)
                if new:
                    fresh.append(rid)
        except SlotTaken:
            await self.drop(fresh)
            fresh.clear()
            await self.restore(took_over)
            raise
        return taken

    async def _first_seats(
        self, wanted: Sequence[tuple[Hold, Claim, datetime]], patient_id: str, now: datetime
    ) -> set[int]:
        """Insert seat 0 of every wanted slot in one round trip (a course holds hundreds);
        returns the positions whose seat 0 was already held, for `_seat` to settle one by one.
        Any other error is raised: the intent's sweep releases what this call inserted."""
        docs = [seat_doc(c, s, 0, h, patient_id, now) for h, c, s in wanted]
        if not docs:
            return set()
        try:
            await self.slots.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    async def drop(self, ids: Sequence[str]) -> int:
        """Delete reservations by id, each by its own `_id` equality: FerretDB 1.x runs an
        `_id: {$in: [...]}` filter as a scan of the whole collection (the pipeline bench saw
        93 such scans read 710k rows), an equality through the primary key."""
        deleted = 0
        for chunk in range(0, len(ids), DELETE_CONCURRENCY):
            results = await asyncio.gather(
                *(
                    self.slots.delete_one({"_id": i})
                    for i in ids[chunk : chunk + DELETE_CONCURRENCY]
                )
            )
            deleted += sum(int(getattr(r, "deleted_count", 1)) for r in results)
        return deleted

    async def restore(self, replaced: Sequence[Document]) -> None:
        """Give seats taken over from the patient's other reservations back to them, once the
        decision that took them is undone: what looked like a crashed attempt may have been
        another instance's booking that committed first, and its course still holds them."""
        for doc in replaced:
            with contextlib.suppress(DuplicateKeyError):
                await self.slots.insert_one(doc)

    async def _seat(
        self,
        claim: Claim,
        slot: datetime,
        hold: Hold,
        patient_id: str,
        now: datetime,
        live: set[str],
        took_over: list[Document],
    ) -> tuple[str, bool]:
        for seat in range(claim.capacity):
            rid = reservation_id(claim.resource, slot, seat)
            doc = seat_doc(claim, slot, seat, hold, patient_id, now)
            try:
                await self.slots.insert_one(doc)
                return rid, True
            except DuplicateKeyError:
                holder = await self.slots.find_one({"_id": rid}) or {}
                if holder.get("appointment_id") == hold.appointment_id:
                    return rid, False
                if (
                    holder.get("patient_id") == patient_id
                    and holder.get("appointment_id") not in live
                ):
                    took_over.append(holder)
                    await self.slots.delete_one(
                        {"_id": rid, "appointment_id": holder.get("appointment_id")}
                    )
                    try:
                        await self.slots.insert_one(doc)
                        return rid, True
                    except DuplicateKeyError:
                        continue
        raise SlotTaken(f"{claim.resource} at {slot.isoformat()}")

    async def release(self, appointment_ids: Iterable[str], keep: dict[str, set[str]]) -> int:
        """Drop the reservations of these appointments, except those just (re)taken."""
        dropped = 0
        for appointment_id in set(appointment_ids):
            kept = keep.get(appointment_id, set())
            ids = [
                d["_id"]
                async for d in self.slots.find({"appointment_id": appointment_id}, {"_id": 1})
            ]
            stale = [i for i in ids if i not in kept]
            dropped += await self.drop(stale)
        return dropped

    async def stale_intents(self, now: datetime, grace: timedelta) -> list[Document]:
        cursor = self.intents.find({"created_at": {"$lt": now - grace}})
        return [doc async for doc in cursor]

    async def reconcile(self, intent: Document, course: Course | None) -> int:
        """Release what the intent reserved unless the course books it there (orphans)."""
        dropped = 0
        for appointment_id in intent.get("appointment_ids", ()):
            appointment = course.appointment(appointment_id) if course else None
            if appointment is None or not appointment.live:
                dropped += await self.release([appointment_id], {})
                continue
            docs = [d async for d in self.slots.find({"appointment_id": appointment_id})]
            stale = [
                d["_id"]
                for d in docs
                if not appointment.starts_at <= _aware(d["slot"]) < appointment.ends_at
            ]
            dropped += await self.drop(stale)
        await self.intents.delete_one({"_id": intent["_id"]})
        return dropped


def _aware(value: Any) -> datetime:
    instant: datetime = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
