"""A write that keeps losing its compare-and-set is retried within a bound, then refused
with 503 and Retry-After: never a 500, never half-applied."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.runtime import errors
from services.runtime.aggregate import ATTEMPTS, AggregateStore, ConcurrentUpdate
from tests.support.memory import MemoryCollection


class Counter(BaseModel):
    seen: int = 0


class AlwaysOvertaken(MemoryCollection):
    """Another writer bumps the version between every load and every write."""

    writes = 0

    async def replace_one(
        self, query: dict[str, Any], doc: dict[str, Any], upsert: bool = False
    ) -> Any:
        self.writes += 1
        self.docs[query["_id"]]["version"] += 1
        return await super().replace_one(query, doc, upsert)


async def test_a_write_that_keeps_losing_gives_up_after_the_bound_and_writes_nothing() -> None:
    docs = AlwaysOvertaken()
    store = AggregateStore(cast(Any, docs), Counter)
    await store.apply("pat-1", lambda state: (Counter(seen=1), []))
    with pytest.raises(ConcurrentUpdate):
        await store.apply("pat-1", lambda state: (Counter(seen=99), []))
    assert docs.writes == ATTEMPTS
    assert docs.docs["pat-1"]["state"] == {"seen": 1}


def test_a_lost_race_is_a_503_with_retry_after() -> None:
    app = FastAPI()
    errors.install(app)

    @app.post("/busy")
    async def busy() -> None:
        raise ConcurrentUpdate("pat-1")

    response = TestClient(app).post("/busy")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(errors.RETRY_AFTER_S)
    assert response.json()["error"] == "Busy"
    assert "pat-1" not in response.text, "no patient id in the answer"
