"""Session override, adverse-event, monitoring-clock and REMS-form routes over the in-memory
collection; the sweeps run as two service instances sharing one collection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from contracts import Topic
from contracts.envelope import stable_id
from services.runtime.auth import Role
from tests.service.test_session_routes import (
    APPROVED,
    BOOKED,
    CONSENTED,
    DISCHARGE,
    ENROLLED,
    INTERACTION,
    SESSIONS,
    Harness,
    at,
    harness,
    vitals,
)

__all__ = ["harness"]


def checked_in(harness: Harness) -> str:
    session: str = harness.post("", {"appointment_id": "apt-1"}, 0).json()["session_id"]
    harness.post(f"/{session}/interactions/acknowledge", {}, 1)
    return session


def dosed(harness: Harness, recheck: bool = True) -> str:
    session = checked_in(harness)
    harness.post(f"/{session}/vitals", vitals(128, 78), 5)
    assert harness.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L1"}, 10).is_success
    if recheck:
        harness.post(f"/{session}/vitals", vitals(132, 80), 50)
    return session


def outbox(harness: Harness) -> list[dict[str, Any]]:
    return list(harness.collection.docs["pat-1"]["outbox"])


def types(harness: Harness) -> list[str]:
    return [entry["event_type"] for entry in outbox(harness)]


async def test_a_prescriber_overrides_a_bp_hold_with_a_reason(harness: Harness) -> None:
    session = checked_in(harness)
    assert harness.post(f"/{session}/vitals", vitals(150, 95), 5).json()["dose_held"]
    body = {"reason": "chronic stable hypertension; cardiology cleared"}

    by_nurse = harness.post(f"/{session}/dose-hold/override", body, 6)
    no_reason = harness.post(f"/{session}/dose-hold/override", {}, 6, Role.PSYCHIATRIST)
    overridden = harness.post(f"/{session}/dose-hold/override", body, 7, Role.PSYCHIATRIST)
    dose = harness.post(f"/{session}/dose", {"dose_mg": 56, "lot_number": "L1"}, 8)

    assert (by_nurse.status_code, no_reason.status_code) == (403, 422)
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["holds"][0]["overridden_by"] == "dev-psychiatrist"
    assert not overridden.json()["dose_held"]
    assert dose.status_code == 201, dose.text
    assert types(harness)[-2:] == ["DoseHoldOverridden", "DoseAdministered"]


async def test_a_serious_adverse_event_raises_a_flag_on_the_session_topic(
    harness: Harness,
) -> None:
    session = dosed(harness)
    body = {"kind": "hypertensive_crisis", "severity": "severe", "serious": True}

    reported = harness.post(f"/{session}/adverse-events", body, 30)

    assert reported.status_code == 201, reported.text
    assert types(harness)[-3:] == ["AdverseEventReported", "RiskFlagRaised", "PrescriberNotified"]
    flag = next(e for e in outbox(harness) if e["event_type"] == "RiskFlagRaised")
    assert flag["topic"] == Topic.SESSION.value
    flag_id = reported.json()["adverse_events"][0]["flag_id"]
    acknowledged = harness.post(
        f"/{session}/risk-flags/{flag_id}/acknowledge", {}, 40, Role.PSYCHIATRIST
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert types(harness)[-1] == "RiskFlagAcknowledged"


async def test_adverse_event_kinds_are_coded_terms_not_free_text(harness: Harness) -> None:
    session = dosed(harness)
    body = {"kind": "Patient said her husband…", "severity": "mild"}

    assert harness.post(f"/{session}/adverse-events", body, 30).status_code == 422


async def test_bad_input_gets_precise_errors(harness: Harness) -> None:
    session = checked_in(harness)
    harness.post(f"/{session}/vitals", vitals(128, 78), 5)

    never_dosed = harness.post(f"/{session}/discharge", DISCHARGE, 200)
    not_allowed = harness.post(f"/{session}/dose", {"dose_mg": 70, "lot_number": "L1"}, 10)
    impossible = harness.post(f"/{session}/vitals", vitals(80, 120), 6)
    too_many_devices = harness.post(
        f"/{session}/dose", {"dose_mg": 56, "devices": 3, "lot_number": "L1"}, 10
    )

    assert (never_dosed.status_code, never_dosed.json()["error"]) == (409, "DischargeBeforeDose")
    assert (not_allowed.status_code, not_allowed.json()["error"]) == (
        409,
        "EsketamineDoseNotAllowed",
    )
    assert not_allowed.json()["reasons"] == ["70 mg; dose 1 allows 56 mg"]
    assert impossible.status_code == 422
    assert too_many_devices.json()["reasons"] == ["56 mg is 2 devices of 28 mg, not 3"]


async def test_an_overdue_40_minute_bp_fires_once_with_two_sweepers(harness: Harness) -> None:
    session = dosed(harness, recheck=False)
    second = Harness(harness.collection)
    for instance in (harness, second):
        instance.now = at(10 + 56)

    counts = await asyncio.gather(
        harness.service.sweepers[0].run_once(), second.service.sweepers[0].run_once()
    )
    again = await second.service.sweepers[0].run_once()

    assert sorted(counts) == [0, 1]
    assert again == 0
    overdue = [e for e in outbox(harness) if e["event_type"] == "MonitoringCheckOverdue"]
    assert [e["event_id"] for e in overdue] == [str(stable_id(session, "bp_40min"))]
    view = harness.get(f"/{session}").json()
    assert view["open_alerts"] == ["bp_40min"]
    harness.post(f"/{session}/vitals", vitals(130, 80), 70)
    assert harness.get(f"/{session}").json()["open_alerts"] == []


async def test_the_monitoring_form_is_due_then_overdue_then_submitted(harness: Harness) -> None:
    session = dosed(harness)
    ready = {"ready_to_leave_at": at(10 + 95).isoformat(), "sedation_observed": True}
    harness.post(f"/{session}/vitals", vitals(126, 80), 10 + 120)
    assert harness.post(f"/{session}/discharge", DISCHARGE | ready, 10 + 125).is_success
    form = harness.get(f"/{session}/monitoring-form").json()
    assert form["missing"] == ["dissociation_observed"]
    assert form["due_by"] == (at(10) + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    incomplete = harness.post(f"/{session}/monitoring-form", {}, 10 + 130)
    assert (incomplete.status_code, incomplete.json()["reasons"]) == (
        409,
        ["dissociation_observed"],
    )

    harness.now = at(10) + timedelta(days=7)
    assert await harness.service.sweepers[0].run_once() == 1
    assert await harness.service.sweepers[0].run_once() == 0
    assert types(harness)[-1] == "MonitoringFormOverdue"
    assert harness.get(f"/{session}/monitoring-form").json()["overdue"]

    late = harness.post(
        f"/{session}/monitoring-form", {"dissociation_observed": False}, 10 + 7 * 24 * 60 + 1
    )
    assert late.status_code == 200, late.text
    assert late.json()["submitted"]["ready_to_leave_minutes"] == 95
    assert types(harness)[-1] == "MonitoringFormSubmitted"
    assert harness.get(f"/{session}").json()["open_alerts"] == []


async def test_check_in_of_an_esketamine_patient_not_rems_enrolled_is_refused() -> None:
    fresh = Harness()
    await fresh.receive(Topic.INTAKE, APPROVED)
    await fresh.receive(Topic.INTAKE, CONSENTED)
    await fresh.receive(Topic.SCHEDULING, BOOKED)
    await fresh.receive(Topic.INTAKE, INTERACTION)

    refused = fresh.post("", {"appointment_id": "apt-1"}, 0)

    assert (refused.status_code, refused.json()["error"]) == (409, "RemsEnrolmentMissing")
    await fresh.receive(Topic.INTAKE, ENROLLED)
    checked = fresh.http.post(SESSIONS, json={"appointment_id": "apt-1"}, headers=fresh.token())
    assert checked.status_code == 201
    assert checked.json()["interactions_to_acknowledge"] == ["levothyroxine"]
