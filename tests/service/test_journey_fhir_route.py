"""GET /patients/{id}/fhir: the journey read's authorization and scope, FHIR JSON, `_since`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from contracts import EventBase
from services.journey import identity
from services.journey.fhir_example import COACH, example_events
from services.journey.handlers import routes
from services.journey.projections import Projections
from services.runtime.auth import Role, mint_token
from services.runtime.network import Network, Site
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.support.memory import MemoryDatabase

NORTH, SOUTH = "pat-north", "pat-south"
NETWORK = Network(
    sites=(
        Site(site_id="site-north", name="North", time_zone="UTC", rems_certified=True,
             coaches=(COACH, "coach-ben"), site_lead="lead-north"),
        Site(site_id="site-south", name="South", time_zone="UTC", rems_certified=False,
             coaches=(COACH,), site_lead="lead-south"),
    )
)  # fmt: skip
CALLERS = [
    ("nurse-1", Role.NURSE, ("site-north",)),
    ("nurse-2", Role.NURSE, ("site-south",)),
    ("dr-1", Role.PSYCHIATRIST, ("site-north",)),
    (COACH, Role.COACH, ("site-north",)),
    ("coach-ben", Role.COACH, ("site-north",)),
    ("ops-1", Role.OPS, ("*",)),
]


def moved(event: EventBase, patient_id: str, site_id: str) -> EventBase:
    return event.model_copy(update={"patient_id": patient_id, "site_id": site_id})


@pytest.fixture
async def journeys() -> tuple[TestClient, Settings]:
    service = Service.create(
        "journey",
        Settings().for_service("journey"),
        title="t",
        description="d",
        db=cast(Any, MemoryDatabase()),
    )
    projections = Projections(service.db)
    service.http.include_router(routes(service, projections, NETWORK))
    for patient_id, site_id in ((NORTH, "site-north"), (SOUTH, "site-south")):
        for event in example_events():
            await projections.apply(moved(event, patient_id, site_id))
    return TestClient(service.http), service.settings


def bearer(settings: Settings, subject: str, role: Role, sites: tuple[str, ...]) -> dict[str, str]:
    token = mint_token(settings, subject, role, sites, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


async def test_the_fhir_export_answers_every_caller_as_the_journey_read_does(
    journeys: tuple[TestClient, Settings],
) -> None:
    http, settings = journeys
    answers: set[int] = set()
    for subject, role, sites in CALLERS:
        headers = bearer(settings, subject, role, sites)
        for patient_id in (NORTH, SOUTH, "pat-unknown"):
            read = http.get(f"/patients/{patient_id}/journey", headers=headers)
            export = http.get(f"/patients/{patient_id}/fhir", headers=headers)
            assert export.status_code == read.status_code, (subject, patient_id)
            answers.add(export.status_code)
            if read.status_code != 200:
                assert export.json() == read.json(), (subject, patient_id)
    assert answers == {200, 404}
    assert http.get(f"/patients/{NORTH}/fhir").status_code == 401


async def test_another_sites_patient_is_answered_like_an_unknown_one(
    journeys: tuple[TestClient, Settings],
) -> None:
    http, settings = journeys
    north_nurse = bearer(settings, "nurse-1", Role.NURSE, ("site-north",))
    other_site = http.get(f"/patients/{SOUTH}/fhir", headers=north_nurse)
    unknown = http.get("/patients/pat-unknown/fhir", headers=north_nurse)
    assert (other_site.status_code, unknown.status_code) == (404, 404)
    assert other_site.json()["error"] == unknown.json()["error"] == "JourneyNotFound"


async def test_the_export_is_a_fhir_json_bundle_of_the_patient(
    journeys: tuple[TestClient, Settings],
) -> None:
    http, settings = journeys
    answer = http.get(f"/patients/{NORTH}/fhir", headers=bearer(settings, *CALLERS[0]))
    found = answer.json()
    (patient,) = [
        e["resource"] for e in found["entry"] if e["resource"]["resourceType"] == "Patient"
    ]

    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert (found["resourceType"], found["type"]) == ("Bundle", "collection")
    assert patient["identifier"][0]["value"] == NORTH


async def test_since_narrows_the_export_and_a_bad_since_is_a_422_naming_it(
    journeys: tuple[TestClient, Settings],
) -> None:
    http, settings = journeys
    headers = bearer(settings, *CALLERS[0])
    url = f"/patients/{NORTH}/fhir"
    full = http.get(url, headers=headers).json()
    recent = http.get(url, headers=headers, params={"_since": "2026-03-08T00:00:00Z"}).json()
    assert 1 < len(recent["entry"]) < len(full["entry"])

    for bad in ("last tuesday", "2026-03-08T00:00:00", "2026-13-01T00:00:00Z"):
        refused = http.get(url, headers=headers, params={"_since": bad})
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [i["loc"] for i in refused.json()["detail"]] == [["query", "_since"]]


SYNTHETIC = {"given_name": "Test", "family_name": "Patient", "date_of_birth": "1980-01-01"}


async def test_the_patient_carries_identity_only_when_intake_gives_it_to_the_caller() -> None:
    """Intake decides who sees identity: the journey passes the caller's own token on."""
    settings = Settings().for_service("journey")
    nurse = bearer(settings, "nurse-1", Role.NURSE, ("site-north",))
    coach = bearer(settings, COACH, Role.COACH, ("site-north",))
    asked: list[tuple[str, str]] = []

    async def intake(patient_id: str, authorization: str) -> dict[str, Any] | None:
        asked.append((patient_id, authorization))
        return SYNTHETIC if authorization == nurse["Authorization"] else None

    service = Service.create(
        "journey", settings, title="t", description="d", db=cast(Any, MemoryDatabase()),
    )  # fmt: skip
    projections = Projections(service.db)
    service.http.include_router(routes(service, projections, NETWORK, intake))
    for event in example_events():
        await projections.apply(moved(event, NORTH, "site-north"))
    http = TestClient(service.http)

    def patient_of(headers: dict[str, str]) -> dict[str, Any]:
        body = http.get(f"/patients/{NORTH}/fhir", headers=headers).json()
        found: dict[str, Any] = body["entry"][0]["resource"]
        return found

    named, pseudonymous = patient_of(nurse), patient_of(coach)

    assert named["name"] == [{"family": "Patient", "given": ["Test"]}]
    assert named["birthDate"] == "1980-01-01"
    assert "security" not in named["meta"]
    assert "name" not in pseudonymous
    assert pseudonymous["meta"]["security"][0]["code"] == "PSEUDED"
    assert [patient for patient, _ in asked] == [NORTH, NORTH]
    assert asked[1][1] == coach["Authorization"]


async def test_intake_is_asked_with_the_callers_token_and_anything_but_identity_is_none() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.url.path == "/patients/pat-ok":
            return httpx.Response(200, json={"patient_id": "pat-ok", "identity": SYNTHETIC})
        if request.url.path == "/patients/pat-therapist":
            return httpx.Response(200, json={"patient_id": "pat-therapist"})
        return httpx.Response(403, json={"error": "Forbidden"})

    transport = httpx.MockTransport(answer)
    source = identity.from_intake("http://intake.test", transport=transport)

    assert await source("pat-ok", "Bearer a") == SYNTHETIC
    assert await source("pat-therapist", "Bearer b") is None
    assert await source("pat-coach", "Bearer c") is None
    assert seen == ["Bearer a", "Bearer b", "Bearer c"]
    unreachable = identity.from_intake("http://127.0.0.1:9", timeout_s=0.5)
    assert await unreachable("pat-ok", "Bearer a") is None
