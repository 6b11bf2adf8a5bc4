"""Smoke test for the local MongoDB-wire server (FerretDB): the pymongo features the services use.

Run: .venv/bin/python infra/local/mongo_smoke.py  (exits non-zero on failure)
Uses a throwaway database that it drops at the end; MONGODB_URL overrides the address.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

URL = os.environ.get(
    "MONGODB_URL", f"mongodb://127.0.0.1:{os.environ.get('MONGODB_PORT', '27017')}"
)


async def main() -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        URL, serverSelectionTimeoutMS=5000
    )
    db = client[f"smoke_{uuid.uuid4().hex[:8]}"]
    try:
        await client.admin.command("ping")
        coll = db["patients"]

        await coll.insert_one({"_id": "p1", "name": "A", "visits": 0})
        doc = await coll.find_one({"_id": "p1"})
        assert doc is not None
        assert doc["name"] == "A", doc

        res = await coll.update_one({"_id": "p1"}, {"$inc": {"visits": 1}})
        assert res.modified_count == 1, res.raw_result
        res = await coll.update_one(
            {"_id": "p2"}, {"$set": {"name": "B"}, "$setOnInsert": {"visits": 0}}, upsert=True
        )
        assert res.upserted_id == "p2", res.raw_result
        docs = [d async for d in coll.find({}).sort("_id", 1)]
        assert [(d["_id"], d["visits"]) for d in docs] == [("p1", 1), ("p2", 0)], docs

        await coll.create_index("email", unique=True, name="email_unique")
        await coll.update_one({"_id": "p1"}, {"$set": {"email": "a@example.org"}})
        try:
            await coll.insert_one({"_id": "p3", "email": "a@example.org"})
        except DuplicateKeyError:
            pass
        else:
            raise AssertionError("unique index did not reject a duplicate email")
        print(f"mongo smoke OK ({URL})")
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
