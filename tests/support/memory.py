"""An in-memory twin of the MongoDB collection calls our stores and queries make.

Supports equality, `$in`, `$ne`, `$lt`, `$lte`, `$gt`, `$gte` and `$elemMatch` on top-level
fields (a condition on an array field holds when an element satisfies it, as in MongoDB),
projections, sort/skip/limit, conditional replace/update with `$set`/`$inc` (replace with
`upsert`), unordered `insert_many`, deletes, unique `_id`, and `aggregate` with
`$match` and `$group` by one field with `$sum`. It counts the documents each collection hands
out (`documents_read`). Its conditional writes are atomic like MongoDB's. With
`interleave=True` it yields to the event loop around reads and writes, so concurrent writers
really interleave.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

Document = dict[str, Any]


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$in": lambda value, wanted: value in wanted,
    "$ne": lambda value, wanted: value != wanted,
    "$lt": lambda value, bound: value is not None and value < bound,
    "$lte": lambda value, bound: value is not None and value <= bound,
    "$gt": lambda value, bound: value is not None and value > bound,
    "$gte": lambda value, bound: value is not None and value >= bound,
}


def _holds(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict) and set(wanted) == {"$elemMatch"}:
        return isinstance(value, list) and any(_holds(v, wanted["$elemMatch"]) for v in value)
    if isinstance(wanted, dict) and wanted and all(k in OPERATORS for k in wanted):
        if isinstance(value, list) and "$ne" not in wanted:
            return any(_holds(v, wanted) for v in value)
        return all(OPERATORS[op](value, arg) for op, arg in wanted.items())
    if isinstance(value, list) and not isinstance(wanted, list):
        return wanted in value
    return bool(value == wanted)


def matches(doc: Document, query: Document) -> bool:
    return all(_holds(doc.get(field), wanted) for field, wanted in query.items())


def group(docs: list[Document], stage: Document) -> list[Document]:
    """A `$group` by a `$field`, a document of `$field`s or None, whose accumulators are `$sum`
    of 1 or of a `$field`."""
    key, sums = stage["_id"], {k: v["$sum"] for k, v in stage.items() if k != "_id"}
    rows: dict[Any, Document] = {}

    def value(doc: Document, path: Any) -> Any:
        return doc.get(path[1:]) if isinstance(path, str) and path.startswith("$") else path

    for doc in docs:
        if isinstance(key, dict):
            at: Any = {name: value(doc, path) for name, path in key.items()}
        else:
            at = value(doc, key)
        marker = repr(at)
        row = rows.setdefault(marker, {"_id": at, **dict.fromkeys(sums, 0)})
        for name, what in sums.items():
            row[name] += (doc.get(what[1:]) or 0) if isinstance(what, str) else what
    return list(rows.values())


def project(doc: Document, projection: Document | None) -> Document:
    if not projection:
        return copy.deepcopy(doc)
    return copy.deepcopy({k: v for k, v in doc.items() if k == "_id" or k in projection})


@dataclass
class Result:
    matched_count: int

    @property
    def deleted_count(self) -> int:
        """For a delete: the documents it removed (what it matched)."""
        return self.matched_count


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
        self.documents_read = 0

    def _read(self, docs: list[Document]) -> list[Document]:
        self.documents_read += len(docs)
        return docs

    async def _yield(self) -> None:
        if self.interleave:
            await asyncio.sleep(0)

    async def create_index(self, key: str) -> str:
        return key

    def find(self, query: Document, projection: Document | None = None) -> Cursor:
        found = [project(d, projection) for d in self.docs.values() if matches(d, query)]
        return Cursor(self._read(found))

    async def find_one(
        self, query: Document, projection: Document | None = None
    ) -> Document | None:
        await self._yield()
        found = next((d for d in self.docs.values() if matches(d, query)), None)
        return None if found is None else self._read([project(found, projection)])[0]

    async def aggregate(self, pipeline: list[Document]) -> Cursor:
        """Runs inside the server: the documents it scans are not handed out."""
        docs = list(self.docs.values())
        for stage in pipeline:
            if "$match" in stage:
                docs = [d for d in docs if matches(d, stage["$match"])]
            elif "$group" in stage:
                docs = group(docs, stage["$group"])
            else:
                raise NotImplementedError(f"stage {sorted(stage)} is outside the allowed subset")
        return Cursor(copy.deepcopy(docs))

    async def count_documents(self, query: Document) -> int:
        return sum(matches(d, query) for d in self.docs.values())

    async def insert_one(self, doc: Document) -> None:
        self._insert(doc)

    def _insert(self, doc: Document) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def insert_many(self, docs: list[Document], ordered: bool = True) -> None:
        """Ordered (PyMongo's default) stops at the first duplicate `_id`, unordered goes on;
        duplicates are reported by position in a BulkWriteError, as PyMongo does."""
        await self._yield()
        errors: list[Document] = []
        for index, doc in enumerate(docs):
            try:
                self._insert(doc)
            except DuplicateKeyError as error:
                errors.append({"index": index, "code": 11000, "errmsg": str(error)})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(docs) - len(errors)})

    async def replace_one(self, query: Document, doc: Document, upsert: bool = False) -> Result:
        await self._yield()
        return self._replace(query, doc, upsert)

    def _replace(self, query: Document, doc: Document, upsert: bool) -> Result:
        found = next((d for d in self.docs.values() if matches(d, query)), None)
        if found is None:
            if upsert:
                self._insert({"_id": query.get("_id"), **doc})
            return Result(0)
        self.docs[found["_id"]] = copy.deepcopy(doc)
        return Result(1)

    async def update_one(self, query: Document, update: Document) -> Result:
        found = next((d for d in self.docs.values() if matches(d, query)), None)
        if found is None:
            return Result(0)
        doc = self.docs[found["_id"]]
        doc.update(copy.deepcopy(update.get("$set", {})))
        for field, step in update.get("$inc", {}).items():
            doc[field] = doc.get(field, 0) + step
        return Result(1)

    async def delete_one(self, query: Document) -> Result:
        found = next((d for d in self.docs.values() if matches(d, query)), None)
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
