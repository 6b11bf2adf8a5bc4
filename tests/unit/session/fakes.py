"""An in-memory twin of the MongoDB collection calls the aggregate store makes."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


@dataclass
class Replaced:
    matched_count: int


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def create_index(self, key: str) -> str:
        return key

    async def find_one(self, query: Document) -> Document | None:
        doc = self.docs.get(query["_id"])
        if doc is None or any(doc.get(k) != v for k, v in query.items()):
            return None
        return copy.deepcopy(doc)

    async def insert_one(self, doc: Document) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def replace_one(self, query: Document, doc: Document) -> Replaced:
        if await self.find_one(query) is None:
            return Replaced(0)
        self.docs[query["_id"]] = copy.deepcopy(doc)
        return Replaced(1)
