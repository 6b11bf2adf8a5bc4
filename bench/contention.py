"""Compare-and-set contention on one aggregate: what the in-process lock saves.

Runs WRITERS concurrent increments of one aggregate through `AggregateStore.apply`, once as
the services do (a per-aggregate lock inside the process) and once without the lock (as two
processes would race), against the local MongoDB-wire server, and prints lost races and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from pymongo import AsyncMongoClient

from services.runtime import aggregate
from services.runtime.aggregate import AggregateStore
from services.runtime.logging import configure_logging


class Counter(BaseModel):
    seen: int = 0


class NoLock:
    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        yield


def bump(state: Counter | None) -> tuple[Counter, list[Any]]:
    return Counter(seen=(state.seen if state else 0) + 1), []


async def run(store: AggregateStore[Counter], writers: int) -> tuple[int, float]:
    lost = 0
    original = aggregate.lost_race

    async def counting(key: str, attempt: int) -> None:
        nonlocal lost
        lost += 1
        await original(key, attempt)

    aggregate.lost_race = counting
    try:
        await store.apply("agg", bump)
        t0 = time.perf_counter()
        await asyncio.gather(*(store.apply("agg", bump, attempts=100) for _ in range(writers)))
        elapsed = time.perf_counter() - t0
    finally:
        aggregate.lost_race = original
    final = (await store.load("agg")).state
    assert final == Counter(seen=writers + 1), final
    return lost, elapsed


async def main(writers: int) -> None:
    configure_logging("bench", "WARNING")
    url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    db = client[f"bench{uuid.uuid4().hex[:8]}_contention"]
    try:
        for label, locked in (("with the in-process lock", True), ("without it", False)):
            store = AggregateStore(db[f"c_{locked}"], Counter)
            if not locked:
                store.locks = NoLock()  # type: ignore[assignment]
            lost, elapsed = await run(store, writers)
            print(f"{writers} concurrent writes of one aggregate {label}: "
                  f"{lost} lost races, {elapsed * 1000:.0f} ms")  # fmt: skip
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=20)
    asyncio.run(main(parser.parse_args().writers))
