"""The demo network's patients and what happens to each, through the public HTTP APIs only.

All people are synthetic. Treatment-day observations are charted retroactively (observed_at),
so a two-hour monitoring window fits in a demo that runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.client import Api, ApiError, Json, until
from services.runtime.auth import Role

TRD_TRIALS = [
    {"drug": "sertraline", "adequate_dose": True, "weeks": 8, "outcome": "failed"},
    {"drug": "venlafaxine", "adequate_dose": True, "weeks": 10, "outcome": "failed"},
]
NO_RISK = {"q1_wish_to_be_dead": False, "q2_suicidal_thoughts": False}
WAIT_S = 90.0
FOLLOW_UP = {"integration_booking", "coach_check_in", "lifestyle_plan", "phq9"}
"""The follow-up plan coaching creates after each discharge (DESIGN: after treatment)."""


@dataclass
class Outcome:
    patients: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def refused(self, label: str, what: str, error: ApiError) -> None:
        body = error.body or {}
        reasons = body.get("reasons") or body.get("detail")
        self.notes.append(
            f"{label}: {what} refused ({error.status} {body.get('error', '')}: {reasons})"
        )


def referral(site: str, n: int, phq9: list[int], meds: list[str], trials: list[Json]) -> Json:
    return {
        "site_id": site,
        "referral_source": "primary_care",
        "identity": {"given_name": "Demo", "family_name": f"Patient {n}",
                     "date_of_birth": f"19{70 + n}-0{1 + n % 9}-15"},
        "medications": meds,
        "antidepressant_trials": trials,
        "phq9": phq9,
        "gad7": [2, 2, 1, 1, 2, 1, 1],
        "cssrs": NO_RISK,
        "received_at": iso(datetime.now(UTC) - timedelta(days=1)),
    }  # fmt: skip


def iso(at: datetime) -> str:
    return at.isoformat()


class Scenario:
    def __init__(self, api: Api) -> None:
        self.api, self.out = api, Outcome()

    def refer(self, label: str, body: Json) -> str:
        created = self.api.post("intake", "/referrals", Role.INTAKE_COORDINATOR, body)
        self.out.patients[label] = created["patient_id"]
        return str(created["patient_id"])

    def approve(self, pid: str, protocol: str, planned: int | None = None) -> Json:
        """Treatment consent (and REMS enrolment for esketamine), then the approval, all
        charted six hours back: the treatment days below are charted hours back too, and
        each step must follow the facts it depends on (DESIGN safety invariants 1, 3)."""
        earlier = iso(datetime.now(UTC) - timedelta(hours=6))
        consents = ["treatment", *(["rems_enrolment"] if protocol == "esketamine_trd" else [])]
        for consent in consents:
            self.api.post("intake", f"/patients/{pid}/consents", Role.INTAKE_COORDINATOR,
                          {"consent": consent, "given": True, "recorded_at": earlier})  # fmt: skip
        body = {"decision": "approved", "protocol": protocol, "planned_doses": planned,
                "decided_at": earlier}  # fmt: skip
        return dict(
            self.api.post("intake", f"/patients/{pid}/eligibility", Role.PSYCHIATRIST, body)
        )

    def first_dose_appointment(self, pid: str) -> str:
        def booked() -> str | None:
            course = self.api.get("scheduling", f"/patients/{pid}/course", Role.NURSE)
            doses = [a for a in course["appointments"] if a["kind"] == "dosing"]
            return doses[0]["appointment_id"] if doses else None

        return str(until(booked, WAIT_S, "the first dosing appointment"))

    def treat(self, label: str, pid: str, dose_mg: float, weight_kg: float | None = None,
              hold_first: bool = False, discharge_at: int = 141,
              recheck: bool = True) -> None:  # fmt: skip
        """One treatment day, charted from check-in at t0 (minutes after t0 below). Without
        `recheck` the ~40-minute BP is not charted: it waits for the monitoring clock to fire
        before the pre-discharge reading."""
        appointment = self.first_dose_appointment(pid)
        t0 = datetime.now(UTC) - timedelta(minutes=discharge_at + 15)
        path = f"/patients/{pid}/sessions"

        def at(minutes: int) -> str:
            return iso(t0 + timedelta(minutes=minutes))

        def chart(step: str, body: Json) -> Any:
            return self.api.post("session", f"{path}/{step}", Role.NURSE, body, "rn-demo")

        def vitals(systolic: int, diastolic: int, minutes: int) -> Any:
            return chart(
                "vitals",
                {
                    "systolic": systolic,
                    "diastolic": diastolic,
                    "heart_rate": 74,
                    "spo2": 98,
                    "observed_at": at(minutes),
                },
            )

        check_in = {"appointment_id": appointment, "observed_at": at(0)}
        session = until(
            lambda: self.api.post("session", path, Role.NURSE, check_in), WAIT_S, "check-in"
        )
        path += f"/{session['session_id']}"
        if session["interactions_to_acknowledge"]:
            chart("interactions/acknowledge", {"observed_at": at(1)})
            flags = ", ".join(session["interactions_to_acknowledge"])
            self.out.notes.append(f"{label}: interaction flags acknowledged before dosing: {flags}")
        if hold_first:
            held = vitals(152, 96, 5)
            self.out.notes.append(f"{label}: pre-dose BP 152/96 -> dose held: {held['dose_held']}")
        vitals(132, 84, 10)
        chart(
            "dose",
            {
                "dose_mg": dose_mg,
                "lot_number": "LOT-DEMO-1",
                "weight_kg": weight_kg,
                "observed_at": at(15),
            },
        )
        if recheck:
            vitals(138, 86, 55)
        else:
            until(lambda: self.api.get("session", path, Role.NURSE)["open_alerts"], WAIT_S,
                  "the overdue BP recheck alert")  # fmt: skip
        ready = {"sedation_resolved": True, "dissociation_resolved": True, "respiratory_ok": True,
                 "vitals_acceptable": True, "transport_confirmed": True}  # fmt: skip
        if hold_first:
            try:
                chart("discharge", {**ready, "observed_at": at(15 + 119)})
            except ApiError as error:
                self.out.refused(label, "discharge 119 min after the dose", error)
        vitals(126, 80, discharge_at - 5)
        chart("discharge", {**ready, "observed_at": at(discharge_at)})

    def run(self) -> Outcome:
        api = self.api
        north1 = self.refer(
            "North-1", referral("site-north", 1, [2, 3, 2, 2, 2, 2, 2, 2, 0], [], TRD_TRIALS)
        )
        north2 = self.refer(
            "North-2",
            referral("site-north", 2, [3, 3, 2, 2, 2, 2, 2, 1, 1], ["levothyroxine"], TRD_TRIALS),
        )
        self.refer(
            "North-3", referral("site-north", 3, [2, 2, 2, 1, 2, 1, 1, 1, 0], [], TRD_TRIALS)
        )
        south1 = self.refer(
            "South-1", referral("site-south", 4, [3, 2, 2, 2, 2, 2, 2, 2, 0], [], TRD_TRIALS[:1])
        )
        south2 = self.refer(
            "South-2", referral("site-south", 5, [1, 1, 1, 1, 0, 0, 1, 0, 0], [], [])
        )
        south3 = self.refer(
            "South-3", referral("site-south", 6, [2, 2, 2, 2, 2, 2, 2, 2, 0], [], TRD_TRIALS)
        )

        self.approve(north1, "esketamine_trd")
        try:
            self.approve(north2, "esketamine_trd")
        except ApiError as error:
            self.out.refused("North-2", "approval with an open risk flag", error)
        record = api.get("intake", f"/patients/{north2}", Role.PSYCHIATRIST)
        for flag_id, flag in record["flags"].items():
            if not flag["acknowledged"]:
                api.post(
                    "intake",
                    f"/patients/{north2}/risk-flags/{flag_id}/acknowledge",
                    Role.PSYCHIATRIST,
                    {"note": "reviewed; safety plan in place"},
                )
        self.approve(north2, "esketamine_trd")
        self.approve(south1, "iv_ketamine_series", planned=6)
        api.post(
            "intake", f"/patients/{south2}/eligibility", Role.PSYCHIATRIST, {"decision": "declined"}
        )
        self.approve(south3, "esketamine_trd")

        self.treat("North-1", north1, dose_mg=56)
        self.treat("North-2", north2, dose_mg=56, hold_first=True)
        self.treat("South-1", south1, dose_mg=35, weight_kg=70, discharge_at=120)
        course = until(
            lambda: api.get("scheduling", f"/patients/{south3}/course", Role.NURSE),
            WAIT_S,
            "South-3 course",
        )
        self.out.notes.append(
            f"South-3: esketamine course {course['status']} ({course['blocked_reason']})"
        )
        return self.out


def converged(api: Api, out: Outcome) -> dict[str, Json] | None:
    """Every patient's journey, once the projections reflect the whole scenario."""
    journeys: dict[str, Json] = {}
    for label, pid in out.patients.items():
        journey: Json = api.get("journey", f"/patients/{pid}/journey", Role.OPS)
        journeys[label] = journey
    treated = [journeys[k] for k in ("North-1", "North-2", "South-1")]
    done = all(j["doses_given"] == 1 and {t["kind"] for t in j["open_tasks"]} >= FOLLOW_UP
               and j["coach_id"] and j["next_appointment"] for j in treated)  # fmt: skip
    done = done and journeys["South-2"]["phase"] == "declined"
    done = done and journeys["North-3"]["phase"] == "awaiting_review"
    done = done and journeys["South-3"]["course_blocked"] is not None
    return journeys if done else None


def run(api: Api) -> tuple[Outcome, dict[str, Json]]:
    out = Scenario(api).run()
    journeys: dict[str, Json] = until(lambda: converged(api, out), WAIT_S, "projections")
    return out, journeys


def dashboards(api: Api) -> dict[str, Any]:
    return {site: api.get("journey", f"/sites/{site}/dashboard", Role.OPS)
            for site in ("site-north", "site-south")}  # fmt: skip
