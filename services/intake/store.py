"""Intake's storage: the record aggregate (indexed for the escalation sweep) and the
`Idempotency-Key` responses of HTTP commands.

A command sent with an `Idempotency-Key` records the key in the aggregate's inbox in the same
write as its effect, so a retry - even a concurrent one in another instance, where the
compare-and-set on the record lets one write win and a new record is a unique `_id` insert -
finds the key and has no second effect. The first response is kept too (a unique `_id`
insert) and returned verbatim to retries; should that write be lost, the retry answers from
the current record.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts import EventBase
from services.intake.domain import IntakeRecord
from services.runtime.aggregate import AggregateStore, Applied
from services.runtime.errors import invalid_field
from services.runtime.mongo import Document

Decide = Callable[[IntakeRecord | None], tuple[IntakeRecord, Sequence[EventBase]]]
ESCALATION_PENDING = "escalation_pending"


class IntakeRecords:
    """The aggregate store, always writing the field the escalation sweep queries."""

    def __init__(self, store: AggregateStore[IntakeRecord]) -> None:
        self.store = store

    async def load(self, patient_id: str) -> IntakeRecord | None:
        return (await self.store.load(patient_id)).state

    async def apply(
        self, patient_id: str, decide: Decide, event_id: str | None = None
    ) -> Applied[IntakeRecord]:
        return await self.store.apply(
            patient_id,
            decide,
            event_id=event_id,
            indexed=lambda record: {ESCALATION_PENDING: record.awaiting_escalation},
        )

    async def awaiting_escalation(self, limit: int = 500) -> list[str]:
        found = self.store.collection.find({ESCALATION_PENDING: True}, {"_id": 1}).limit(limit)
        return [str(doc["_id"]) async for doc in found]


class Responses:
    """First responses by (caller, route, key), so retries return them verbatim."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    @staticmethod
    def scope(subject: str, route: str, key: str) -> str:
        return hashlib.sha256(f"{subject}\n{route}\n{key}".encode()).hexdigest()

    @staticmethod
    def fingerprint(body: str) -> str:
        return hashlib.sha256(body.encode()).hexdigest()

    async def first(self, scope: str, fingerprint: str) -> tuple[int, Any] | None:
        doc = await self.collection.find_one({"_id": scope})
        if doc is None:
            return None
        if doc["fingerprint"] != fingerprint:
            raise reused_key()
        return int(doc["status"]), doc["body"]

    async def remember(self, scope: str, fingerprint: str, status: int, body: Any) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one(
                {"_id": scope, "fingerprint": fingerprint, "status": status, "body": body}
            )


def reused_key() -> RequestValidationError:
    return invalid_field(("header", "Idempotency-Key"), "key already used for a different request")
