"""`Idempotency-Key` on every POST of every service: a client retrying a command whose answer
was lost (a timeout while an instance died) never causes a second effect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pymongo.errors import AutoReconnect

from harness.running import auth
from services.runtime.auth import Role
from services.runtime.idempotency import COLLECTION
from tests.service.test_scheduling_routes import SETTINGS, approve, next_weekday_at, told
from tests.support import apps
from tests.support.memory import MemoryDatabase

ROOTS = apps.roots()
World = tuple[httpx.AsyncClient, MemoryDatabase]


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_every_post_of_every_service_documents_the_idempotency_key(name: str) -> None:
    paths = apps.build(ROOTS[name].create_app, name).http.openapi()["paths"]
    posts = {path: ops["post"] for path, ops in paths.items() if "post" in ops}
    assert posts or name == "journey"
    for path, post in posts.items():
        headers = {p["name"] for p in post.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path


@pytest.fixture
async def world() -> AsyncIterator[World]:
    db = MemoryDatabase(interleave=True)
    app = ROOTS["scheduling"].create_app(SETTINGS, db=cast(Any, db))
    async with TestKafkaBroker(cast(KafkaBroker, app._brokers[0])) as broker:
        await approve(broker, "pat-k1", seed=7100)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            yield client, db


def booking(key: str | None, starts_at: str) -> dict[str, Any]:
    headers = auth(SETTINGS, Role.NURSE) | ({"Idempotency-Key": key} if key else {})
    return {"headers": headers, "json": {"kind": "integration", "starts_at": starts_at}}


async def test_a_retried_booking_with_its_key_books_once_and_gets_the_first_answer(
    world: World,
) -> None:
    client, db = world
    before = len(told(db, "pat-k1", "AppointmentBooked"))
    at = next_weekday_at(1, 13)
    first = await client.post("/patients/pat-k1/appointments", **booking("book-1", at))
    retry = await client.post("/patients/pat-k1/appointments", **booking("book-1", at))

    assert first.status_code == retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(told(db, "pat-k1", "AppointmentBooked")) == before + 1


async def test_a_retry_whose_first_answer_was_lost_is_answered_from_the_record(
    world: World,
) -> None:
    client, db = world
    before = len(told(db, "pat-k1", "AppointmentBooked"))
    at = next_weekday_at(2, 13)
    first = await client.post("/patients/pat-k1/appointments", **booking("book-2", at))
    db[COLLECTION].docs.clear()  # the answer was never stored (the instance died after commit)
    retry = await client.post("/patients/pat-k1/appointments", **booking("book-2", at))

    assert retry.status_code == 201, retry.text
    assert retry.json()["appointment_id"] == first.json()["appointment_id"]
    assert len(told(db, "pat-k1", "AppointmentBooked")) == before + 1


async def test_concurrent_copies_of_one_command_book_once(world: World) -> None:
    client, db = world
    before = len(told(db, "pat-k1", "AppointmentBooked"))
    at = next_weekday_at(3, 13)
    answers = await asyncio.gather(
        *(client.post("/patients/pat-k1/appointments", **booking("book-3", at)) for _ in range(3))
    )

    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert len({a.json()["appointment_id"] for a in answers}) == 1
    assert len(told(db, "pat-k1", "AppointmentBooked")) == before + 1


async def test_a_key_reused_for_another_command_is_refused_naming_the_header(
    world: World,
) -> None:
    client, _ = world
    first = await client.post(
        "/patients/pat-k1/appointments", **booking("book-4", next_weekday_at(1, 15))
    )
    other = await client.post(
        "/patients/pat-k1/appointments", **booking("book-4", next_weekday_at(2, 15))
    )

    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_a_commit_that_landed_but_answered_an_outage_keeps_its_slots_reserved(
    world: World,
) -> None:
    """Found by the fault-injection runs (a database restart mid-write): the booking's course
    was stored but its chair was freed, and another patient was booked into the same chair.
    Only a lost compare-and-set certainly wrote nothing; anything else keeps the reservations
    for the orphan sweep to reconcile against the course."""
    client, db = world
    courses = db["courses"]
    replace = courses.replace_one

    async def lands_then_fails(query: Any, doc: Any, upsert: bool = False) -> Any:
        await replace(query, doc, upsert)
        raise AutoReconnect("connection closed")

    courses.replace_one = lands_then_fails  # type: ignore[method-assign]
    answer = await client.post(
        "/patients/pat-k1/appointments", **booking("book-5", next_weekday_at(0, 15, weeks=5))
    )
    courses.replace_one = replace  # type: ignore[method-assign]

    assert answer.status_code == 503, answer.text
    stored = told(db, "pat-k1", "AppointmentBooked")[-1]["appointment_id"]
    held = [r for r in db["reservations"].docs.values() if r["appointment_id"] == stored]
    assert held, "the stored booking's slots are still reserved"
    assert db["reservation_intents"].docs, "the intent is left for the orphan sweep"
