"""An in-memory twin of the MongoDB collection calls our stores and queries make.

Supports equality, `$in`, `$ne`, `$lt`, `$lte`, `$gt` and `$gte` on top-level fields,
projections, sort/skip/limit, conditional replace/update with `$set`/`$inc`, deletes, and
unique `_id`. Its conditional writes are atomic like MongoDB's. With `interleave=True` it
yields to the event loop around reads and writes, so concurrent writers really interleave.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$in": lambda value, wanted: value in wanted,
    "$ne": lambda value, wanted: value != wanted,
    "$lt": lambda value, bound: value is not None and value < bound,
    "$lte": lambda value, bound: value is not None and value <= bound,
    "$gt": lambda value, bound: value is not None and value > bound,
    "$gte": lambda value, bound: value is not None and value >= bound,
}


def matches(doc: Document, query: Document) -> bool:
    for field, wanted in query.items():
        value = doc.get(field)
        if isinstance(wanted, dict) and wanted and all(k in OPERATORS for k in wanted):
            if not all(OPERATORS[op](value, arg) for op, arg in wanted.items()):
                return False
        elif value != wanted:
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
    def __init__(self, interleave: bool = False) -> None:
        self.docs: dict[str, Document] = {}
        self.interleave = interleave

    async def _yield(self) -> None:
        if self.interleave:
            await asyncio.sleep(0)

    async def create_index(self, key: str) -> str:
        return key

    def find(self, query: Document, projection: Document | None = None) -> Cursor:
        return Cursor([project(d, projection) for d in self.docs.values() if matches(d, query)])

    async def find_one(
        self, query: Document, projection: Document | None = None
    ) -> Document | None:
        await self._yield()
        return next((project(d, projection) for d in self.docs.values() if matches(d, query)), None)

    async def count_documents(self, query: Document) -> int:
        return sum(matches(d, query) for d in self.docs.values())

    async def insert_one(self, doc: Document) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def insert_many(self, docs: list[Document]) -> None:
        """Ordered, like PyMongo's default: stops at the first duplicate `_id`."""
        for doc in docs:
            await self.insert_one(doc)

    async def replace_one(self, query: Document, doc: Document) -> Result:
        await self._yield()
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

    async def delete_one(self, query: Document) -> Result:
        found = await self.find_one(query)
        if found is not None:
            del self.docs[found["_id"]]
        return Result(int(found is not None))

    async def delete_many(self, query: Document) -> Result:
        gone = [d["_id"] for d in self.docs.values() if matches(d, query)]
        for key in gone:
            del self.docs[key]
        return Result(len(gone))


class MemoryDatabase:
    """Collections by name, created on first use."""

    def __init__(self, interleave: bool = False) -> None:
        self.collections: dict[str, MemoryCollection] = {}
        self.interleave = interleave

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection(self.interleave))

    async def command(self, name: str) -> Document:
        return {"ok": 1.0}
