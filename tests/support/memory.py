"""An in-memory twin of the MongoDB collection calls our stores and queries make.

Supports equality and `$in` filters on top-level fields, projections, sort/skip/limit,
conditional replace/update with `$set`/`$inc`, and unique `_id`. Single-threaded, so its
conditional writes are atomic like MongoDB's.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


def matches(doc: Document, query: Document) -> bool:
    for field, wanted in query.items():
        if isinstance(wanted, dict) and "$in" in wanted:
            if doc.get(field) not in wanted["$in"]:
                return False
        elif doc.get(field) != wanted:
            return False
    return True


def project(doc: Document, projection: Document | None) -> Document:
    if not projection:
        return copy.deepcopy(doc)
    return copy.deepcopy({k: v for k, v in doc.items() if k == "_id" or k in projection})


@dataclass
class Result:
    matched_count: int


class Cursor:
    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs

    def sort(self, key: str, direction: int = 1) -> Cursor:
        self.docs.sort(key=lambda d: str(d.get(key, "")), reverse=direction < 0)
        return self

    def skip(self, n: int) -> Cursor:
        self.docs = self.docs[n:]
        return self

    def limit(self, n: int) -> Cursor:
        self.docs = self.docs[:n] if n else self.docs
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        return self.docs[:length] if length else self.docs

    async def __aiter__(self) -> AsyncIterator[Document]:
        for doc in self.docs:
            yield doc


class MemoryCollection:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def create_index(self, key: str) -> str:
        return key

    def find(self, query: Document, projection: Document | None = None) -> Cursor:
        return Cursor([project(d, projection) for d in self.docs.values() if matches(d, query)])

    async def find_one(
        self, query: Document, projection: Document | None = None
    ) -> Document | None:
        return next((project(d, projection) for d in self.docs.values() if matches(d, query)), None)

    async def count_documents(self, query: Document) -> int:
        return sum(matches(d, query) for d in self.docs.values())

    async def insert_one(self, doc: Document) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, query: Document, doc: Document) -> Result:
        found = await self.find_one(query)
        if found is None:
            return Result(0)
        self.docs[found["_id"]] = copy.deepcopy(doc)
        return Result(1)

    async def update_one(self, query: Document, update: Document) -> Result:
        found = await self.find_one(query)
        if found is None:
            return Result(0)
        doc = self.docs[found["_id"]]
        doc.update(copy.deepcopy(update.get("$set", {})))
        for field, step in update.get("$inc", {}).items():
            doc[field] = doc.get(field, 0) + step
        return Result(1)


class MemoryDatabase:
    """Collections by name, created on first use."""

    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection())

    async def command(self, name: str) -> Document:
        return {"ok": 1.0}
