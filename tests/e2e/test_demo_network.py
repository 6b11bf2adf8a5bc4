"""End to end: the five services as real processes, driven through their public HTTP APIs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from contracts import Topic
from demo import scenario
from demo.client import Api, ApiError, until
from services.journey import rebuild
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.support.processes import service_processes

pytestmark = pytest.mark.infra


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """All five services as subprocesses of a throwaway deployment (own topics and databases)."""
    with service_processes(settings, tmp_path) as api:
        yield api


def test_the_demo_network_reaches_treatment_and_follow_up(stack: Api) -> None:
    out, journeys = scenario.run(stack)
    north1, north2, south1 = journeys["North-1"], journeys["North-2"], journeys["South-1"]
    for journey in (north1, north2, south1):
        assert journey["phase"] == "induction"
        assert journey["doses_given"] == 1
        assert {t["kind"] for t in journey["open_tasks"]} == {
            "integration_booking",
            "coach_check_in",
            "lifestyle_plan",
            "phq9",
        }
        assert journey["next_appointment"] is not None
    assert (north1["doses_planned"], south1["doses_planned"]) == (8, 6)
    assert {north1["coach_id"], north2["coach_id"]} == {"coach-ana", "coach-ben"}, "least loaded"
    assert south1["coach_id"] == "coach-cy"
    assert north2["interactions"] == ["levothyroxine"]
    assert journeys["North-3"]["phase"] == "awaiting_review"
    assert journeys["South-2"]["phase"] == "declined"
    assert journeys["South-3"]["phase"] == "approved"
    assert any("UnacknowledgedRiskFlag" in n for n in out.notes)
    assert any("monitoring_time: 119 of 120 min" in n for n in out.notes)
    assert any("site_not_rems_certified" in n for n in out.notes)


def test_dashboards_count_the_network_and_identity_stays_in_intake(stack: Api) -> None:
    out, journeys = scenario.run(stack)
    boards = scenario.dashboards(stack)
    north, south = boards["site-north"], boards["site-south"]
    assert north["census"]["induction"] == 2
    assert north["doses_held"] == 1
    assert north["monitoring_forms_due"] == 2, "REMS form due after each esketamine dose"
    assert south["census"]["declined"] == 1
    assert north["open_tasks"] + south["open_tasks"] == 12
    journey_text = str(journeys)
    assert "Demo" not in journey_text
    assert "date_of_birth" not in journey_text
    pid = out.patients["North-1"]
    with pytest.raises(ApiError) as refused:
        stack.get("intake", f"/patients/{pid}", Role.COACH)
    assert refused.value.status == 403
    assert "identity" not in stack.get("intake", f"/patients/{pid}", Role.THERAPIST)
    assert stack.get("intake", f"/patients/{pid}", Role.NURSE)["identity"]["given_name"] == "Demo"
    bundle = stack.get("journey", f"/patients/{pid}/fhir", Role.NURSE)
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert {"Patient", "Condition", "MedicationAdministration", "Observation", "Task"} <= kinds
    exported = bundle["entry"][0]["resource"]
    assert exported["name"][0]["given"] == ["Demo"], "intake gives the nurse identity"
    hidden = stack.get("journey", f"/patients/{pid}/fhir", Role.THERAPIST)["entry"][0]["resource"]
    assert "name" not in hidden, "intake keeps identity from a therapist"


def journeys_of(api: Api, patients: dict[str, str]) -> dict[str, Any]:
    return {label: api.get("journey", f"/patients/{pid}/journey", Role.OPS)
            for label, pid in patients.items()}  # fmt: skip


def settled(api: Api) -> str | None:
    """The projection's content hash once nothing is left to consume and it stops changing."""
    first = api.get("journey", "/admin/projection?content_hash=true", Role.OPS)["content_hash"]
    time.sleep(1.0)
    lag = api.get("journey", "/admin/lag", Role.OPS)["total"]
    second = api.get("journey", "/admin/projection?content_hash=true", Role.OPS)["content_hash"]
    return str(second) if lag == 0 and first == second else None


def test_the_rebuild_command_switches_to_an_identical_projection(
    stack: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = scenario.run(stack)
    quiet_hash = until(lambda: settled(stack), 60, "the projection to settle")
    before = journeys_of(stack, out.patients)
    assert rebuild.main(["--url", stack.urls["journey"]]) == 0
    printed = capsys.readouterr()
    assert "content hash unchanged" in printed.out
    assert "journeys -> journeys_g1" in printed.out
    assert "events" in printed.err, "a progress bar on stderr"
    assert journeys_of(stack, out.patients) == before
    assert (
        stack.get("journey", "/admin/projection?content_hash=true", Role.OPS)["content_hash"]
        == quiet_hash
    )
    lag = stack.get("journey", "/admin/lag", Role.OPS)
    assert set(lag["lag"]) == {stack.settings.kafka_topic_prefix + t for t in Topic}
