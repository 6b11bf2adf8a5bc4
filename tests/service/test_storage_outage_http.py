"""A command while PostgreSQL is down behind FerretDB answers 503 with Retry-After, like any
unreachable database, not 500 (a chaos run's PostgreSQL restart found the 500s)."""

from __future__ import annotations

from typing import Any, cast

import httpx
from pymongo.errors import OperationFailure

from services.runtime.errors import RETRY_AFTER_S
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.support.memory import MemoryDatabase
from tests.support.outage import storage_down


async def test_storage_down_behind_ferretdb_is_a_503_and_other_database_errors_a_500() -> None:
    service = Service.create(
        "session", Settings().for_service("session"), title="t", description="d",
        db=cast(Any, MemoryDatabase()),
    )  # fmt: skip

    @service.http.post("/storage-down")
    async def down() -> None:
        raise storage_down()

    @service.http.post("/bad-query")
    async def bad() -> None:
        raise OperationFailure("unknown operator: $nope", code=2)

    transport = httpx.ASGITransport(app=service.http, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://session") as http:
        response = await http.post("/storage-down")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert response.json()["error"] == "DatabaseUnavailable"
        assert "postgres" not in response.text, "no driver message in the answer"
        other = await http.post("/bad-query")
        assert other.status_code == 500
        assert "$nope" not in other.text
