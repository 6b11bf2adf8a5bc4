"""The development database behaves like MongoDB where the services depend on it: a
conditional write has exactly one winner, and equality lookups are served by an index.

On FerretDB over PostgreSQL both hold only because of the guards the local launcher installs
(infra/local/ferretdb-guards.sql); on MongoDB they hold by themselves. Same assertions for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel
from pymongo.errors import OperationFailure

from services.runtime.aggregate import AggregateStore, ConcurrentUpdate
from services.runtime.mongo import is_stale_write
from services.runtime.settings import Settings

pytestmark = pytest.mark.infra

ROUNDS = 30
WRITERS = 20


class Counter(BaseModel):
    seen: int = 0


def collection(mongo: Any, settings: Settings, name: str) -> Any:
    return mongo[f"{settings.deployment}_devdb"][name]


async def race(write: Callable[[int], Awaitable[Any]]) -> int:
    """Run `write(writer)` for WRITERS writers at once; count those whose write matched. A
    write the version guard refused lost the race; any other error fails the test."""

    async def one(writer: int) -> int:
        try:
            return int((await write(writer)).matched_count)
        except OperationFailure as error:
            if is_stale_write(error):
                return 0
            raise

    return sum(await asyncio.gather(*(one(writer) for writer in range(WRITERS))))


async def test_twenty_concurrent_conditional_updates_have_exactly_one_winner(
    mongo: Any, settings: Settings
) -> None:
    docs = collection(mongo, settings, "cas_update")
    await docs.insert_one({"_id": "agg", "version": 1, "writes": 0})
    winners = []
    for version in range(1, ROUNDS + 1):
        winners.append(
            await race(
                lambda _writer, v=version: docs.update_one(  # type: ignore[misc]
                    {"_id": "agg", "version": v}, {"$inc": {"version": 1, "writes": 1}}
                )
            )
        )
    assert winners == [1] * ROUNDS
    stored = await docs.find_one({"_id": "agg"})
    assert (stored["version"], stored["writes"]) == (ROUNDS + 1, ROUNDS)


async def test_twenty_concurrent_conditional_replaces_have_exactly_one_winner(
    mongo: Any, settings: Settings
) -> None:
    docs = collection(mongo, settings, "cas_replace")
    await docs.insert_one({"_id": "agg", "version": 1, "writer": None})
    winners = []
    for version in range(1, ROUNDS + 1):
        winners.append(
            await race(
                lambda writer, v=version: docs.replace_one(  # type: ignore[misc]
                    {"_id": "agg", "version": v},
                    {"_id": "agg", "version": v + 1, "writer": writer},
                )
            )
        )
    assert winners == [1] * ROUNDS
    assert (await docs.find_one({"_id": "agg"}))["version"] == ROUNDS + 1


async def test_a_document_without_a_version_updates_freely(mongo: Any, settings: Settings) -> None:
    docs = collection(mongo, settings, "unversioned")
    await docs.insert_one({"_id": "pointer", "active": "a"})
    result = await docs.update_one({"_id": "pointer"}, {"$set": {"active": "b"}})
    assert result.matched_count == 1
    assert (await docs.find_one({"_id": "pointer"}))["active"] == "b"


async def test_a_stale_version_is_refused_as_a_concurrent_update(
    mongo: Any, settings: Settings
) -> None:
    store = AggregateStore(collection(mongo, settings, "stale"), Counter)
    await store.apply("pat-cas", lambda state: (Counter(seen=1), []))
    stale = await store.load("pat-cas")
    await store.apply("pat-cas", lambda state: (Counter(seen=2), []))
    with pytest.raises(ConcurrentUpdate):
        await store.commit(stale, Counter(seen=99), [])
    assert (await store.load("pat-cas")).state == Counter(seen=2)


async def test_two_instances_writing_one_aggregate_lose_no_update(
    mongo: Any, settings: Settings
) -> None:
    """Two stores over one collection stand for two processes: no shared in-process lock,
    so only the database's compare-and-set keeps their increments apart."""
    docs = collection(mongo, settings, "two_instances")
    first, second = AggregateStore(docs, Counter), AggregateStore(docs, Counter)

    def bump(state: Counter | None) -> tuple[Counter, list[Any]]:
        return Counter(seen=(state.seen if state else 0) + 1), []

    await asyncio.gather(
        *(store.apply("pat-shared", bump, attempts=50) for store in [first, second] * 25)
    )
    loaded = await first.load("pat-shared")
    assert loaded.state == Counter(seen=50)
    assert loaded.version == 50


def index_names(plan: Any) -> set[str]:
    """Index names anywhere in an explain plan: PostgreSQL's (FerretDB) or MongoDB's."""
    found: set[str] = set()
    if isinstance(plan, dict):
        for key, value in plan.items():
            if key in ("Index Name", "indexName") and isinstance(value, str):
                found.add(value)
            elif key == "stage" and value in ("IDHACK", "EXPRESS_IXSCAN"):
                found.add("_id_")
            else:
                found |= index_names(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= index_names(item)
    return found


@pytest.mark.parametrize("field", ["_id", "site_id"])
async def test_an_equality_lookup_is_served_by_an_index(
    mongo: Any, settings: Settings, field: str
) -> None:
    docs = collection(mongo, settings, "lookups")
    await docs.create_index("site_id")
    await docs.insert_many([{"_id": f"p{i}", "site_id": f"site-{i % 20}"} for i in range(2000)])
    value = "p1234" if field == "_id" else "site-7"
    plan = await docs.database.command(
        "explain", {"find": docs.name, "filter": {field: value}}, verbosity="queryPlanner"
    )
    assert index_names(plan), f"no index in the plan of {{{field}: ...}}: {plan}"
    assert await docs.count_documents({field: value}) == (1 if field == "_id" else 100)
