"""Coaching's MongoDB adapter: the indexed fields that make coach queues and loads queries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection

from services.coaching.api import QueuedTask
from services.coaching.domain import CoachingRecord
from services.runtime.mongo import Document

COLLECTION = "coaching_records"


def indexed(record: CoachingRecord) -> Document:
    """Top-level fields written with the state in the same atomic replace: who coaches the
    patient, where, and the open tasks with real datetimes (so queries can sort and compare)."""
    return {
        "site_id": record.site_id,
        "coach_id": record.coach_id,
        "open_tasks": [
            {
                "task_id": task_id,
                "kind": task.kind.value,
                "coach_id": task.coach_id,
                "due_at": task.due_at,
                "session_id": task.session_id,
            }
            for task_id, task in record.open_tasks().items()
        ],
    }


async def coach_loads(
    collection: AsyncCollection[Document], coaches: Sequence[str]
) -> dict[str, int]:
    """Patients currently assigned to each coach (DESIGN: least-loaded assignment)."""
    return {coach: await collection.count_documents({"coach_id": coach}) for coach in coaches}


def queue(docs: Iterable[Document], coach_id: str, now: datetime) -> list[QueuedTask]:
    """The coach's open tasks, due soonest first (then by patient and task for a stable order)."""
    tasks = [
        QueuedTask(
            patient_id=doc["_id"],
            task_id=t["task_id"],
            kind=t["kind"],
            due_at=t["due_at"],
            session_id=t.get("session_id"),
            overdue=t["due_at"] < now,
        )
        for doc in docs
        for t in doc.get("open_tasks", ())
        if t["coach_id"] == coach_id
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
    return queue(docs, coach_id, now)
