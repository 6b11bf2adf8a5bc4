"""The shape of an aggregate's stored document and its conditional writes: outbox entries as
the relay publishes them, and the `{_id, version}` compare-and-set both engines honour (MongoDB
atomically; FerretDB over PostgreSQL through the launcher's version guard, which refuses a
stale write rather than leaving it unmatched: both mean the write lost)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from contracts import EventBase, topic_of
from services.runtime.mongo import Document, is_stale_write
from services.runtime.tracing import carrier


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
    return await _won(collection.replace_one({"_id": key, "version": version}, doc))


async def update_if_version(
    collection: AsyncCollection[Document], key: str, version: int, fields: Document
) -> bool:
    """Set `fields` and bump the version if it is still `version`."""
    update = {"$set": fields, "$inc": {"version": 1}}
    return await _won(collection.update_one({"_id": key, "version": version}, update))


async def _won(write: Awaitable[Any]) -> bool:
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
