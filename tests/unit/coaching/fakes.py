"""An in-memory twin of the few MongoDB collection calls the coaching service makes."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


def matches(doc: Document, query: Document) -> bool:
    """Equality and `$in` on top-level fields: all the coaching queries need."""
    for field, wanted in query.items():
        if isinstance(wanted, dict) and "$in" in wanted:
            if doc.get(field) not in wanted["$in"]:
                return False
        elif doc.get(field) != wanted:
            return False
    return True


@dataclass
class Replaced:
    matched_count: int


class Cursor:
    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs

    async def to_list(self, length: int | None = None) -> list[Document]:
        return self.docs[:length] if length else self.docs


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def create_index(self, key: str) -> str:
        return key

    async def find_one(self, query: Document) -> Document | None:
        return next((copy.deepcopy(d) for d in self.docs.values() if matches(d, query)), None)

    async def insert_one(self, doc: Document) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, query: Document, doc: Document) -> Replaced:
        found = await self.find_one(query)
        if found is None:
            return Replaced(0)
        self.docs[found["_id"]] = copy.deepcopy(doc)
        return Replaced(1)

    async def count_documents(self, query: Document) -> int:
        return sum(matches(d, query) for d in self.docs.values())

    def find(self, query: Document, projection: Document | None = None) -> Cursor:
        shown = [
            {k: v for k, v in d.items() if projection is None or k == "_id" or k in projection}
            for d in self.docs.values()
            if matches(d, query)
        ]
        return Cursor(copy.deepcopy(shown))
