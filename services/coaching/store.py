"""Coaching's MongoDB adapter: the indexed fields that make queues, loads and sweeps queries."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from services.coaching.api import QueuedTask
from services.coaching.domain import CoachingRecord
from services.coaching.escalation import next_sweep_at
from services.coaching.roster import CoachAvailability
from services.coaching.rules import CoachingRules
from services.runtime.mongo import Document

COLLECTION = "coaching_records"
AVAILABILITY = "coach_availability"
RECORD_INDEXES = ("coach_id", "site_id", "next_sweep_at")
AVAILABILITY_INDEXES = ("site_id",)


def indexer(rules: CoachingRules) -> Callable[[CoachingRecord], Document]:
    def indexed(record: CoachingRecord) -> Document:
        """Top-level fields written with the state in the same atomic replace: who coaches the
        patient, where, the open tasks with real datetimes (so queries can sort and compare)
        and when the escalation sweep next has something to fire."""
        return {
            "site_id": record.site_id,
            "coach_id": record.coach_id,
            "next_sweep_at": next_sweep_at(record, rules),
            "open_tasks": [
                {
                    "task_id": task_id,
                    "kind": task.kind.value,
                    "coach_id": task.coach_id,
                    "due_at": task.due_at,
                    "session_id": task.session_id,
                    "escalated": task.escalated,
                }
                for task_id, task in record.open_tasks().items()
            ],
        }

    return indexed


def availability_indexed(state: CoachAvailability) -> Document:
    return {"site_id": state.site_id}


async def unavailable_coaches(
    collection: AsyncCollection[Document], site_id: str, now: datetime
) -> dict[str, CoachAvailability]:
    """The site's coaches who take no patients at `now` (absent or left)."""
    found = collection.find({"site_id": site_id}, {"state": 1})
    states = [CoachAvailability.model_validate(doc["state"]) async for doc in found]
    return {s.coach_id: s for s in states if s.unavailable_at(now) is not None}


async def coach_loads(
    collection: AsyncCollection[Document], coaches: Sequence[str]
) -> dict[str, int]:
    """Patients currently assigned to each coach (DESIGN: least-loaded assignment)."""
    return {coach: await collection.count_documents({"coach_id": coach}) for coach in coaches}


async def patients_of(
    collection: AsyncCollection[Document], site_id: str, coach_id: str
) -> list[str]:
    found = collection.find({"site_id": site_id, "coach_id": coach_id}, {"_id": 1})
    return sorted([doc["_id"] async for doc in found])


async def due_for_sweep(collection: AsyncCollection[Document], now: datetime) -> list[str]:
    """Patients with a task whose overdue or escalation instant has passed."""
    found = collection.find({"next_sweep_at": {"$lt": now}}, {"_id": 1})
    return sorted([doc["_id"] async for doc in found])


def queue(docs: Iterable[Document], now: datetime, coach_id: str | None = None) -> list[QueuedTask]:
    """Open tasks (of `coach_id` only, unless None), due soonest first (then by patient and
    task for a stable order); overdue ones marked."""
    tasks = [
        QueuedTask(
            patient_id=doc["_id"],
            task_id=t["task_id"],
            kind=t["kind"],
            coach_id=t["coach_id"],
            due_at=t["due_at"],
            session_id=t.get("session_id"),
            overdue=t["due_at"] < now,
            escalated=t.get("escalated", False),
        )
        for doc in docs
        for t in doc.get("open_tasks", ())
        if coach_id is None or t["coach_id"] == coach_id
    ]
    return sorted(tasks, key=lambda t: (t.due_at, t.patient_id, t.task_id))


async def open_tasks_of(
    collection: AsyncCollection[Document],
    coach_id: str,
    sites: Collection[str] | None,
    now: datetime,
) -> list[QueuedTask]:
    """Open tasks of `coach_id`'s patients, limited to `sites` unless None (every site)."""
    query: Document = {"coach_id": coach_id}
    if sites is not None:
        query["site_id"] = {"$in": sorted(sites)}
    docs = await collection.find(query, {"open_tasks": 1}).to_list(None)
    return queue(docs, now, coach_id)


async def open_tasks_at(
    collection: AsyncCollection[Document], site_id: str, now: datetime
) -> list[QueuedTask]:
    """Every open task of the site's patients (the site lead's view)."""
    docs = await collection.find({"site_id": site_id}, {"open_tasks": 1}).to_list(None)
    return queue(docs, now)
