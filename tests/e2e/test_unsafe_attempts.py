"""Unsafe clinical states tried from outside, through the public HTTP APIs of the five services
running as processes: each attempt is refused with the rule and the fact a nurse or prescriber
reads (DESIGN safety invariants; the findings "a second dose within the hour", "treatment while
a follow-up risk flag is open", "discharge on a failing reading")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.client import Api, ApiError, until
from demo.scenario import TRD_TRIALS, Scenario, iso, referral
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.integration.test_session_treatment_day import READY
from tests.support.processes import service_processes

pytestmark = pytest.mark.infra

WAIT_S = 60


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    with service_processes(settings, tmp_path) as api:
        yield api


def refused(attempt: Any) -> dict[str, Any]:
    """The problem document of a refused request (fails if it was accepted)."""
    with pytest.raises(ApiError) as error:
        attempt()
    assert error.value.status in (409, 422), error.value.body
    body: dict[str, Any] = error.value.body
    return body


def ago(minutes: float) -> str:
    return iso(datetime.now(UTC) - timedelta(minutes=minutes))


class Nurse:
    def __init__(self, api: Api, pid: str) -> None:
        self.api, self.path = api, f"/patients/{pid}/sessions"

    def post(self, step: str, body: dict[str, Any]) -> Any:
        return self.api.post("session", f"{self.path}{step}", Role.NURSE, body, "rn-e2e")

    def vitals(self, session: str, systolic: int, diastolic: int, minutes_ago: float) -> Any:
        reading = {"systolic": systolic, "diastolic": diastolic, "heart_rate": 72, "spo2": 98}
        return self.post(f"/{session}/vitals", reading | {"observed_at": ago(minutes_ago)})


def dosing_appointments(api: Api, pid: str) -> list[dict[str, Any]]:
    course = api.get("scheduling", f"/patients/{pid}/course", Role.NURSE)
    return [
        a
        for a in course["appointments"]
        if a["kind"] == "dosing" and a["status"] == "booked" and a["dose_number"] > 1
    ]


def test_unsafe_attempts_from_outside_are_refused_naming_rule_and_fact(stack: Api) -> None:
    demo = Scenario(stack)
    body = referral("site-north", 7, [2, 3, 2, 2, 2, 2, 2, 2, 0], [], TRD_TRIALS)
    pid = demo.refer("Unsafe-1", body)
    demo.approve(pid, "esketamine_trd")
    demo.treat("Unsafe-1", pid, dose_mg=56)
    nurse = Nurse(stack, pid)

    # A second dose within the hour of the first: the next appointment checks in, the dose is
    # refused by the protocol's gap.
    second = until(lambda: dosing_appointments(stack, pid)[0]["appointment_id"], WAIT_S, "dose 2")
    session = nurse.post("", {"appointment_id": second, "observed_at": ago(10)})["session_id"]
    nurse.vitals(session, 128, 80, 5)
    gap = refused(lambda: nurse.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L2"}))
    assert gap["error"] == "DoseBeforeMinimumGap"
    assert "minimum gap 2 days" in gap["reasons"][0]

    # A follow-up PHQ-9 with item 9 above 0, completed by the coach in coaching: the open
    # treatment day can no longer be dosed, whatever else holds.
    def phq9_task() -> dict[str, Any] | None:
        journey: dict[str, Any] = stack.get("journey", f"/patients/{pid}/journey", Role.OPS)
        tasks = [t for t in journey["open_tasks"] if t["kind"] == "phq9"]
        return tasks[0] | {"coach_id": journey["coach_id"]} if tasks else None

    phq9 = until(phq9_task, WAIT_S, "the follow-up PHQ-9 task")
    outcome = {"outcome": {"phq9": [1, 1, 1, 1, 1, 1, 1, 1, 1]}}
    stack.post("coaching", f"/patients/{pid}/tasks/{phq9['task_id']}/complete", Role.COACH,
               outcome, phq9["coach_id"])  # fmt: skip

    def flag_refusal() -> dict[str, Any] | None:
        try:
            nurse.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L2"})
        except ApiError as error:
            return error.body if error.body["error"] == "OpenRiskFlag" else None
        raise AssertionError("a dose was accepted while a follow-up risk flag was open")

    flagged = until(flag_refusal, WAIT_S, "the follow-up flag reaching the session")
    assert "phq9_item9 flag" in flagged["reasons"][0]

    # Approval of another patient whose treatment consent was withdrawn.
    other = demo.refer("Unsafe-2", referral("site-north", 8, [2, 3, 2, 2, 2, 2, 2, 2, 0], [],
                                            TRD_TRIALS))  # fmt: skip
    stack.post("intake", f"/patients/{other}/consents", Role.INTAKE_COORDINATOR,
               {"consent": "treatment", "given": False})  # fmt: skip
    approval = {"decision": "approved", "protocol": "iv_ketamine_series"}
    withdrawn = refused(
        lambda: stack.post("intake", f"/patients/{other}/eligibility", Role.PSYCHIATRIST, approval)
    )
    assert withdrawn["error"] == "TreatmentConsentNotGiven"

    # A nurse booking a treatment day past the prescriber's plan.
    course = stack.get("scheduling", f"/patients/{pid}/course", Role.NURSE)
    start = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    free = stack.get("scheduling", f"/sites/site-north/availability?kind=dosing&start={start}",
                     Role.NURSE)["slots"][0]  # fmt: skip
    booking = {"kind": "dosing", "starts_at": free["starts_at"],
               "dose_number": course["planned_doses"] + 1}  # fmt: skip
    past_plan = refused(
        lambda: stack.post("scheduling", f"/patients/{pid}/appointments", Role.NURSE, booking)
    )
    assert past_plan["error"] == "BeyondPlannedDoses"


def test_a_discharge_on_a_failing_reading_is_refused_until_a_prescriber_accepts_it(
    stack: Api,
) -> None:
    demo = Scenario(stack)
    pid = demo.refer("Unsafe-3", referral("site-south", 9, [2, 3, 2, 2, 2, 2, 2, 2, 0], [],
                                          TRD_TRIALS))  # fmt: skip
    demo.approve(pid, "iv_ketamine_series", planned=6)
    nurse = Nurse(stack, pid)
    appointment = demo.first_dose_appointment(pid)
    session = until(
        lambda: nurse.post("", {"appointment_id": appointment, "observed_at": ago(150)}),
        WAIT_S,
        "check-in",
    )["session_id"]
    nurse.vitals(session, 128, 80, 145)
    dose = {"weight_kg": 70, "lot_number": "LOT-IV", "observed_at": ago(140)}
    nurse.post(f"/{session}/dose", dose)
    nurse.vitals(session, 134, 84, 100)
    nurse.vitals(session, 172, 104, 10)

    failing = refused(lambda: nurse.post(f"/{session}/discharge", READY | {"observed_at": ago(5)}))
    assert failing["error"] == "DischargeConditionsUnmet"
    assert failing["reasons"] == [
        "vitals_acceptable: last BP 172/104 above 140/90 needs a prescriber's acceptance"
    ]
    stack.post("session", f"/patients/{pid}/sessions/{session}/discharge-blood-pressure/accept",
               Role.PSYCHIATRIST, {"reason": "known hypertension; asymptomatic; reviewed",
                                   "observed_at": ago(7)})  # fmt: skip
    left = nurse.post(f"/{session}/discharge", READY | {"observed_at": ago(5)})
    assert left["discharge"]["vitals_acceptable"] is True
