"""Patients for the browser tests, made through the public APIs with the demo's helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from demo import scenario
from demo.client import Api, until
from services.runtime.auth import Role

TRIALS = scenario.TRD_TRIALS
CALM = [2, 2, 2, 2, 2, 2, 2, 2, 0]
"""PHQ-9 of 16 with item 9 at 0: no risk flag."""
AT_RISK = [2, 2, 2, 2, 2, 2, 2, 2, 1]


def referred(api: Api, phq9: list[int], meds: list[str] | None = None,
             site: str = "site-north") -> str:  # fmt: skip
    body = scenario.referral(site, 1, phq9, meds or [], TRIALS)
    return str(api.post("intake", "/referrals", Role.INTAKE_COORDINATOR, body)["patient_id"])


def approved(api: Api, meds: list[str] | None = None) -> tuple[str, str]:
    """An esketamine patient at site-north with consent, REMS enrolment and approval charted
    six hours back; returns the patient and the first dosing appointment."""
    pid = referred(api, CALM, meds)
    play = scenario.Scenario(api)
    play.approve(pid, "esketamine_trd")
    appointment = play.first_dose_appointment(pid)

    def in_journey() -> bool:
        """The nurse's day reads the journey projection, one hop behind scheduling: under
        load a page opened as soon as scheduling booked missed the appointment."""
        journey = api.get("journey", f"/patients/{pid}/journey", Role.OPS)
        return any(a["appointment_id"] == appointment for a in journey["appointments"])

    until(in_journey, scenario.WAIT_S, "the booking in the journey")
    return pid, appointment


def treated(api: Api) -> dict[str, Any]:
    """A patient after one treatment day: their journey once coaching assigned a coach and the
    follow-up tasks (a PHQ-9 among them) reached the projection."""
    pid, _ = approved(api)
    scenario.Scenario(api).treat("browser", pid, dose_mg=56)

    def ready() -> dict[str, Any] | None:
        journey: dict[str, Any] = api.get("journey", f"/patients/{pid}/journey", Role.OPS)
        kinds = {t["kind"] for t in journey["open_tasks"]}
        return journey if journey["coach_id"] and "phq9" in kinds else None

    found: dict[str, Any] = until(ready, scenario.WAIT_S, "follow-up tasks")
    return found


def awaiting_review(api: Api, phq9: list[int]) -> str:
    pid = referred(api, phq9)
    earlier = scenario.iso(datetime.now(UTC) - timedelta(hours=6))
    for consent in ("treatment", "rems_enrolment"):
        api.post("intake", f"/patients/{pid}/consents", Role.INTAKE_COORDINATOR,
                 {"consent": consent, "given": True, "recorded_at": earlier})  # fmt: skip
    until(lambda: api.get("journey", f"/patients/{pid}/journey", Role.OPS)["phase"]
          == "awaiting_review", scenario.WAIT_S, "awaiting review")  # fmt: skip
    return pid
