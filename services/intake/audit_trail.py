"""The network's audit trail, kept by intake (the identity custodian) from the audit topic and
read by privacy officers: `GET /audit`. Entries are inserted once by id and never updated or
deleted; no route writes them."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from faststream import AckPolicy
from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.audit import AuditEntry
from contracts.envelope import UtcDatetime
from contracts.topics import AUDIT_TOPIC
from services.runtime.auth import ALL_SITES, Principal, Role, require
from services.runtime.mongo import Document
from services.runtime.service import Service

AUDIT_TRAIL = "audit_trail"
INDEXED = ("patient_id", "subject", "at")
MAX_PAGE = 500


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_offset: int | None = None
    """Pass as `offset` for the next page; None on the last page."""


class AuditTrailStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        for field in INDEXED:
            await self.collection.create_index(field)

    async def keep(self, entry: AuditEntry) -> None:
        """Insert once by entry id; a redelivered entry is dropped."""
        document = {**entry.model_dump(mode="json"), "_id": str(entry.entry_id), "at": entry.at}
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one(document)

    async def page(
        self,
        *,
        patient_id: str | None,
        subject: str | None,
        since: datetime | None,
        until: datetime | None,
        offset: int,
        limit: int,
    ) -> AuditPage:
        query: Document = {}
        if patient_id:
            query["patient_id"] = patient_id
        if subject:
            query["subject"] = subject
        window = {op: at for op, at in (("$gte", since), ("$lte", until)) if at is not None}
        if window:
            query["at"] = window
        found = self.collection.find(query).sort("at", 1).skip(offset).limit(limit + 1)
        docs = [doc async for doc in found]
        entries = [AuditEntry.model_validate(_entry(doc)) for doc in docs[:limit]]
        return AuditPage(entries=entries, next_offset=offset + limit if len(docs) > limit else None)


def _entry(doc: Document) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def subscribe_audit(service: Service, trail: AuditTrailStore) -> None:
    """Keep every service's entries (offset committed after the insert)."""
    topic = service.settings.kafka_topic_prefix + AUDIT_TOPIC

    async def on_audit_entry(entry: AuditEntry) -> None:
        await trail.keep(entry)

    service.broker.subscriber(
        topic,
        group_id=f"{service.dead_letters.group}.{topic}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="intake keeps every service's AuditEntry in the audit trail",
    )(on_audit_entry)
    service.startup.append(trail.ensure_indexes)


def audit_routes(trail: AuditTrailStore) -> APIRouter:
    router = APIRouter(tags=["privacy"])

    @router.get("/audit", response_model=AuditPage)
    async def read_audit(
        principal: Annotated[Principal, Depends(require(Role.PRIVACY_OFFICER))],
        patient_id: Annotated[str | None, Query(max_length=64)] = None,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        since: Annotated[UtcDatetime | None, Query(alias="from")] = None,
        until: Annotated[UtcDatetime | None, Query(alias="to")] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> AuditPage:
        """Who read or changed identity or a clinical record, oldest first, filtered by patient,
        caller (`subject`) and time (`from`/`to`, ISO-8601 with offset). The trail spans every
        site, so it is read with an all-sites token only."""
        if ALL_SITES not in principal.sites:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the audit trail needs all sites")
        return await trail.page(
            patient_id=patient_id, subject=subject, since=since, until=until,
            offset=offset, limit=limit,
        )  # fmt: skip

    return router
