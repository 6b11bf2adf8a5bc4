"""Session routes and subscribers over an in-memory collection: no Kafka, no MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from httpx import Response

from contracts import Topic
from contracts.intake import ConsentRecorded, EligibilityDecided, MedicationInteractionFlagged
from contracts.scheduling import AppointmentBooked, CourseTransferred
from contracts.vocabulary import (
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
    Interaction,
    Protocol,
)
from services.runtime.auth import Role, mint_token
from services.session.main import create_app
from tests.support.apps import Wrapping, build
from tests.support.memory import MemoryCollection, MemoryDatabase

PATIENT, SITE = "pat-1", "site-north"
SESSIONS = f"/patients/{PATIENT}/sessions"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Harness(Wrapping):
    def __init__(self, collection: MemoryCollection | None = None) -> None:
        db = MemoryDatabase()
        if collection is not None:
            db.collections["treatment_records"] = collection
        self.built = build(create_app, "session", db=db, now=T0)
        self.settings, self.service = self.built.settings, self.built.service
        self.collection = db["treatment_records"]
        self.http = self.built.client

    def token(self, role: Role = Role.NURSE, sites: tuple[str, ...] = (SITE,)) -> dict[str, str]:
        token = mint_token(self.settings, f"dev-{role.value}", role, sites)
        return {"Authorization": f"Bearer {token}"}

    def post(
        self, path: str, body: dict[str, Any], minutes: float, role: Role = Role.NURSE
    ) -> Response:
        self.now = at(minutes)
        headers = self.token(role)
        response: Response = self.http.post(f"{SESSIONS}{path}", json=body, headers=headers)
        return response

    def get(self, path: str, role: Role = Role.NURSE) -> Response:
        response: Response = self.http.get(f"{SESSIONS}{path}", headers=self.token(role))
        return response

    def outbox_types(self) -> list[str]:
        return [entry["event_type"] for entry in self.collection.docs[PATIENT]["outbox"]]


def envelope(producer: str) -> dict[str, Any]:
    return {
        "event_id": uuid4(),
        "occurred_at": T0 - timedelta(days=2),
        "patient_id": PATIENT,
        "site_id": SITE,
        "correlation_id": uuid4(),
        "producer": producer,
    }


BOOKED = AppointmentBooked(
    **envelope("scheduling"),
    appointment_id="apt-1",
    kind=AppointmentKind.DOSING,
    starts_at=T0,
    ends_at=at(180),
    dose_number=1,
    protocol=Protocol.ESKETAMINE_TRD,
    course_phase=CoursePhase.INDUCTION,
)
ENROLLED = ConsentRecorded(**envelope("intake"), consent=ConsentKind.REMS_ENROLMENT, given=True)
CONSENTED = ConsentRecorded(**envelope("intake"), consent=ConsentKind.TREATMENT, given=True)
APPROVED = EligibilityDecided(
    **envelope("intake"),
    decision=Decision.APPROVED,
    decided_by="dr-psy",
    protocol=Protocol.ESKETAMINE_TRD,
)
INTERACTION = MedicationInteractionFlagged(
    **envelope("intake"),
    interaction=Interaction.LEVOTHYROXINE,
    medication="levothyroxine",
    monitoring="marked blood pressure and heart-rate rise: monitor BP and HR closely",
)


@pytest.fixture
async def harness() -> Harness:
    harness = Harness()
    await harness.receive(Topic.INTAKE, APPROVED)
    await harness.receive(Topic.INTAKE, CONSENTED)
    await harness.receive(Topic.INTAKE, ENROLLED)
    await harness.receive(Topic.SCHEDULING, BOOKED)
    await harness.receive(Topic.INTAKE, INTERACTION)
    return harness


def vitals(systolic: int, diastolic: int) -> dict[str, Any]:
    return {"systolic": systolic, "diastolic": diastolic, "heart_rate": 70, "spo2": 98}


DISCHARGE = {
    "sedation_resolved": True,
    "dissociation_resolved": True,
    "respiratory_ok": True,
    "vitals_acceptable": True,
    "transport_confirmed": True,
}


async def test_a_treatment_day_from_check_in_to_discharge(harness: Harness) -> None:
    checked_in = harness.post("", {"appointment_id": "apt-1"}, 0)
    assert checked_in.status_code == 201, checked_in.text
    assert checked_in.json()["interactions"][0]["interaction"] == "levothyroxine"
    session = checked_in.json()["session_id"]
    again = harness.post("", {"appointment_id": "apt-1"}, 1)
    assert (again.status_code, again.json()["session_id"]) == (200, session)

    assert harness.post(f"/{session}/vitals", vitals(150, 95), 5).json()["dose_held"]
    held = harness.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L1"}, 6)
    assert (held.status_code, held.json()["error"]) == (409, "DoseHeldForBloodPressure")
    assert not harness.post(f"/{session}/vitals", vitals(130, 80), 15).json()["dose_held"]
    unacknowledged = harness.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L1"}, 16)
    assert unacknowledged.json()["reasons"] == ["levothyroxine"]
    acknowledged = harness.post(f"/{session}/interactions/acknowledge", {}, 17)
    assert acknowledged.json()["interactions_to_acknowledge"] == []
    dosed = harness.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L1"}, 20)
    assert dosed.json()["dose"]["administered_by"] == "dev-nurse"
    harness.post(f"/{session}/vitals", vitals(138, 85), 60)

    early = harness.post(f"/{session}/discharge", DISCHARGE | {"transport_confirmed": False}, 139)
    assert early.status_code == 409
    assert early.json()["error"] == "DischargeConditionsUnmet"
    assert early.json()["reasons"] == [
        "monitoring_time: 119 of 120 min",
        "bp_before_discharge: no blood pressure in the 15 min before discharge",
        "transport_confirmed",
    ]
    harness.post(f"/{session}/vitals", vitals(134, 84), 139.5)
    done = harness.post(f"/{session}/discharge", DISCHARGE, 140)
    assert done.status_code == 200, done.text
    assert done.json()["discharge"]["monitoring_minutes"] == 120

    read = harness.http.get(f"{SESSIONS}/{session}", headers=harness.token(Role.PSYCHIATRIST))
    assert [r["minutes_since_dose"] for r in read.json()["vitals"][-2:]] == [40, 119]
    assert harness.outbox_types() == [
        "PatientCheckedIn",
        "VitalsRecorded",
        "DoseHeld",
        "VitalsRecorded",
        "InteractionsAcknowledged",
        "DoseAdministered",
        "VitalsRecorded",
        "VitalsRecorded",
        "SessionDischarged",
        "MonitoringFormDue",
    ]


async def test_a_redelivered_booking_is_absorbed_once(harness: Harness) -> None:
    await harness.receive(Topic.SCHEDULING, BOOKED)

    assert harness.collection.docs[PATIENT]["version"] == 5


async def test_nurses_may_chart_retroactively_but_not_ahead_of_the_clock(harness: Harness) -> None:
    harness.now = at(30)
    body = {"appointment_id": "apt-1", "observed_at": at(10).isoformat()}
    retro = harness.http.post(SESSIONS, json=body, headers=harness.token())
    assert retro.json()["checked_in_at"] == "2025-03-03T09:10:00Z"
    session = retro.json()["session_id"]

    ahead = harness.post(
        f"/{session}/vitals", vitals(120, 80) | {"observed_at": at(33.5).isoformat()}, 31
    )
    before = harness.post(
        f"/{session}/vitals", vitals(120, 80) | {"observed_at": at(9).isoformat()}, 31
    )
    naive = harness.post(
        f"/{session}/vitals", vitals(120, 80) | {"observed_at": "2025-03-03T09:20:00"}, 31
    )

    for response in (ahead, before, naive):
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][-1] == "observed_at"


@pytest.mark.parametrize(
    "reading",
    [
        vitals(301, 80),
        vitals(120, 19),
        vitals(120, 120),
        vitals(120, 80) | {"spo2": 101},
        vitals(120, 80) | {"heart_rate": 19},
    ],
)
async def test_implausible_vitals_are_rejected(harness: Harness, reading: dict[str, Any]) -> None:
    session = harness.post("", {"appointment_id": "apt-1"}, 0).json()["session_id"]

    assert harness.post(f"/{session}/vitals", reading, 5).status_code == 422


async def test_absent_patients_and_sessions_are_not_found(harness: Harness) -> None:
    unknown = harness.http.post(
        "/patients/pat-x/sessions", json={"appointment_id": "apt-1"}, headers=harness.token()
    )
    missing = harness.http.get(f"{SESSIONS}/ses-nope", headers=harness.token())

    assert (unknown.status_code, missing.status_code) == (404, 404)


async def test_check_in_without_a_booking_is_a_conflict(harness: Harness) -> None:
    refused = harness.post("", {"appointment_id": "apt-unbooked"}, 0)

    assert (refused.status_code, refused.json()["error"]) == (409, "NoDosingBooking")


async def test_only_nurses_of_the_site_chart_and_only_clinical_roles_read(
    harness: Harness,
) -> None:
    """Another site's session is answered like an unknown one (404): scope reveals nothing."""
    session = harness.post("", {"appointment_id": "apt-1"}, 0).json()["session_id"]
    path = f"{SESSIONS}/{session}"

    other_site = harness.http.get(path, headers=harness.token(sites=("site-south",)))
    therapist = harness.http.get(path, headers=harness.token(Role.THERAPIST))
    ops = harness.http.get(path, headers=harness.token(Role.OPS, sites=("*",)))
    psychiatrist_charting = harness.http.post(
        f"{path}/vitals", json=vitals(120, 80), headers=harness.token(Role.PSYCHIATRIST)
    )

    unknown = harness.http.get("/patients/pat-unknown/sessions/ses-x", headers=harness.token())
    assert [r.status_code for r in (other_site, therapist, ops, psychiatrist_charting)] == [
        404,
        403,
        200,
        403,
    ]
    assert other_site.json() == {**unknown.json(), "reasons": other_site.json()["reasons"]}


async def test_after_a_transfer_only_the_new_sites_nurses_chart_the_open_session(
    harness: Harness,
) -> None:
    """DESIGN safety invariant 3 and 6: the nurse's token covers the session's current site;
    a transfer moves the undosed session, and with it who may dose."""
    session = harness.post("", {"appointment_id": "apt-1"}, 0).json()["session_id"]
    harness.post(f"/{session}/interactions/acknowledge", {}, 1)
    harness.post(f"/{session}/vitals", vitals(128, 80), 5)
    moved = CourseTransferred(
        **{**envelope("scheduling"), "occurred_at": at(6), "site_id": "site-south"},
        course_id="crs-1",
        from_site_id=SITE,
        to_site_id="site-south",
        reason="patient moved",
    )
    await harness.receive(Topic.SCHEDULING, moved)
    harness.now = at(10)
    dose = {"dose_mg": 56, "lot_number": "L1"}

    old_site = harness.http.post(f"{SESSIONS}/{session}/dose", json=dose, headers=harness.token())
    new_site = harness.http.post(
        f"{SESSIONS}/{session}/dose", json=dose, headers=harness.token(sites=("site-south",))
    )

    assert (old_site.status_code, old_site.json()["error"]) == (404, "PatientNotFound")
    assert new_site.status_code == 201, new_site.text
    assert new_site.json()["site_id"] == "site-south"
