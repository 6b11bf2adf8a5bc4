"""Every error answer is the one problem document (RFC 9457) that every route's OpenAPI
declares; out-of-range paging is a 422 naming the field; opening hours are documented as the
local wall-clock times they are."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import jsonschema
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pymongo.errors import ServerSelectionTimeoutError

from contracts import Topic
from harness.events import approved, stamp
from harness.running import auth
from services.journey import main as journey_main
from services.runtime.aggregate import ConcurrentUpdate
from services.runtime.auth import Role
from services.runtime.errors import PROBLEM_JSON, RETRY_AFTER_S
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.scheduling import main as scheduling_main
from tests.support.memory import MemoryDatabase

SCHEDULING = Settings().for_service("scheduling")
JOURNEY = Settings().for_service("journey")


def client(app: Any, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def scheduling() -> AsyncIterator[httpx.AsyncClient]:
    """Scheduling over the in-memory twin, with one approved patient (`pat-p1`)."""
    app = scheduling_main.create_app(SCHEDULING, db=cast(Any, MemoryDatabase()))
    broker: KafkaBroker = app._brokers[0]  # type: ignore[assignment]
    async with TestKafkaBroker(broker) as test_broker:
        decision = approved("pat-p1", s=stamp(now=datetime.now(UTC), seed=7000))
        await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
        async with client(app, "http://scheduling") as http:
            yield http


def assert_documented_problem(response: httpx.Response, spec: dict[str, Any]) -> dict[str, Any]:
    """The answer is `application/problem+json`, valid against the `Problem` schema of the
    service's own OpenAPI, and its operation declares that body for its status."""
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    body: dict[str, Any] = response.json()
    problem = {"$ref": "#/components/schemas/Problem", "components": spec["components"]}
    jsonschema.validate(body, problem)
    assert body["status"] == response.status_code
    operation = next(
        op
        for path, ops in spec["paths"].items()
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", path), response.request.url.path)
        for method, op in ops.items()
        if method == response.request.method.lower()
    )
    declared = operation["responses"][f"{str(response.status_code)[0]}XX"]
    assert declared["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    return body


async def test_a_refused_booking_is_a_documented_problem_naming_the_rule(
    scheduling: httpx.AsyncClient,
) -> None:
    spec = (await scheduling.get("/openapi.json")).json()
    past = await scheduling.post(
        "/patients/pat-p1/appointments",
        headers=auth(SCHEDULING, Role.NURSE),
        json={"kind": "dosing", "starts_at": "2020-01-06T14:00:00+00:00"},
    )
    assert past.status_code == 422
    body = assert_documented_problem(past, spec)
    assert (body["type"], body["title"], body["error"]) == (
        "urn:kap:problem:SlotInPast",
        "Slot in past",
        "SlotInPast",
    )
    assert isinstance(body["detail"], str)
    assert isinstance(body["reasons"], list)
    unknown = await scheduling.get(
        "/patients/pat-nobody/course", headers=auth(SCHEDULING, Role.NURSE)
    )
    assert unknown.status_code == 404
    assert assert_documented_problem(unknown, spec)["error"] == "CourseNotFound"


async def test_auth_routing_and_validation_errors_are_documented_problems(
    scheduling: httpx.AsyncClient,
) -> None:
    spec = (await scheduling.get("/openapi.json")).json()
    anonymous = await scheduling.get("/patients/pat-p1/course")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    body = assert_documented_problem(anonymous, spec)
    assert (body["type"], body["title"]) == ("about:blank", "Unauthorized")
    coach = await scheduling.get("/admin/network", headers=auth(SCHEDULING, Role.COACH))
    assert assert_documented_problem(coach, spec)["status"] == 403
    invalid = await scheduling.post(
        "/patients/pat-p1/appointments", headers=auth(SCHEDULING, Role.NURSE), json={}
    )
    body = assert_documented_problem(invalid, spec)
    assert [issue["loc"] for issue in body["detail"]] == [["body", "kind"], ["body", "starts_at"]]
    assert body["reasons"] == ["body.kind: Field required", "body.starts_at: Field required"]
    nowhere = await scheduling.get("/no/such/route")
    assert (nowhere.status_code, nowhere.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_busy_and_unreachable_database_are_documented_503_problems() -> None:
    service = Service.create(
        "session", Settings().for_service("session"), title="t", description="d",
        db=cast(Any, MemoryDatabase()),
    )  # fmt: skip

    @service.http.post("/busy")
    async def busy() -> None:
        raise ConcurrentUpdate("pat-1")

    @service.http.post("/unreachable")
    async def unreachable() -> None:
        raise ServerSelectionTimeoutError("no primary")

    async with client(service.http, "http://session") as http:
        spec = (await http.get("/openapi.json")).json()
        for path, error in (("/busy", "Busy"), ("/unreachable", "DatabaseUnavailable")):
            response = await http.post(path)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
            body = assert_documented_problem(response, spec)
            assert (body["type"], body["error"]) == (f"urn:kap:problem:{error}", error)
            assert "pat-1" not in response.text, "no patient id in the answer"
            assert "primary" not in response.text, "no driver message in the answer"


async def test_an_offset_beyond_the_database_integer_range_is_a_422_naming_the_field() -> None:
    app = journey_main.create_app(JOURNEY, db=cast(Any, MemoryDatabase()))
    async with client(app, "http://journey") as http:
        response = await http.get(
            "/patients",
            params={"site_id": "site-north", "offset": str(2**63)},
            headers=auth(JOURNEY, Role.OPS),
        )
        assert response.status_code == 422, response.text
        assert [issue["loc"] for issue in response.json()["detail"]] == [["query", "offset"]]
        first_page = await http.get(
            "/patients", params={"site_id": "site-north"}, headers=auth(JOURNEY, Role.OPS)
        )
        assert (first_page.status_code, first_page.json()["offset"]) == (200, 0)


async def test_opening_hours_are_documented_as_the_local_times_the_network_returns(
    scheduling: httpx.AsyncClient,
) -> None:
    spec = (await scheduling.get("/openapi.json")).json()
    window = spec["components"]["schemas"]["Window"]["properties"]
    assert "format" not in window["start"], "format: time demands an offset"
    pattern = window["start"]["pattern"]
    network = await scheduling.get("/admin/network", headers=auth(SCHEDULING, Role.SITE_ADMIN))
    times = [
        moment
        for site in network.json()["sites"]
        for windows in site["hours"].values()
        for w in windows
        for moment in (w["start"], w["end"])
    ]
    assert "08:00:00" in times
    assert all(re.fullmatch(pattern, moment) for moment in times), times


async def test_opening_hours_with_an_offset_are_refused_and_plain_ones_accepted(
    scheduling: httpx.AsyncClient,
) -> None:
    network = await scheduling.get("/admin/network", headers=auth(SCHEDULING, Role.SITE_ADMIN))
    site = next(s for s in network.json()["sites"] if s["site_id"] == "site-north")
    admin = auth(SCHEDULING, Role.SITE_ADMIN)
    offset = {**site, "hours": {"mon": [{"start": "08:00Z", "end": "18:00Z"}]}}
    refused = await scheduling.put("/admin/sites/site-north", json=offset, headers=admin)
    assert refused.status_code == 422, refused.text
    assert {tuple(i["loc"]) for i in refused.json()["detail"]} == {
        ("body", "hours", "mon", 0, "start"),
        ("body", "hours", "mon", 0, "end"),
    }
    plain = {
        **site,
        "hours": {"mon": [{"start": "08:00", "end": "17:30:00"}], "tue": ["09:00-12:00"]},
    }
    stored = await scheduling.put("/admin/sites/site-north", json=plain, headers=admin)
    assert stored.status_code == 200, stored.text
    assert stored.json()["hours"] == {
        "mon": [{"start": "08:00:00", "end": "17:30:00"}],
        "tue": [{"start": "09:00:00", "end": "12:00:00"}],
    }
