"""The audit trail over the in-memory database: exactly one entry per identity read or write
and per clinical-record read, denied attempts included; erasure by a privacy officer; the
trail is read-only, paginated and filtered, and carries no personal data beyond the patient id."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from contracts.audit import AuditEntry
from contracts.topics import AUDIT_TOPIC
from services.runtime.audit import AUDIT_LOG, AUDIT_OUTBOX
from services.runtime.auth import Role
from tests.service.test_coaching_routes import Harness as CoachingHarness
from tests.service.test_intake_routes import NOW, Harness
from tests.service.test_session_routes import Harness as SessionHarness
from tests.service.test_session_routes import harness as session_harness  # noqa: F401

PO = Role.PRIVACY_OFFICER


@pytest.fixture
async def intake() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.http.aclose()


def entries(harness: Harness | SessionHarness) -> list[dict[str, Any]]:
    return list(harness.db[AUDIT_LOG].docs.values()) if isinstance(harness, Harness) else []


async def get(h: Harness, path: str, role: Role | None, sites: str = "site-north") -> Any:
    headers = h.token(role, sites) if role else {}
    return await h.http.get(path, headers=headers)


async def referred(h: Harness) -> str:
    created = await h.refer()
    assert created.status_code == 201, created.text
    return str(created.json()["patient_id"])


async def test_every_identity_write_and_record_read_writes_exactly_one_entry(
    intake: Harness,
) -> None:
    pid = await referred(intake)
    [created] = entries(intake)
    assert (created["resource"], created["action"], created["outcome"]) == (
        "identity", "create", "allowed"
    )  # fmt: skip
    assert (created["patient_id"], created["role"]) == (pid, "intake_coordinator")

    nurse = await get(intake, f"/patients/{pid}", Role.NURSE)
    assert nurse.json()["identity"]["family_name"] == "Patient"
    therapist = await get(intake, f"/patients/{pid}", Role.THERAPIST)
    assert "identity" not in therapist.json()

    _, by_nurse, by_therapist = entries(intake)
    assert by_nurse["subject"] == "dev-nurse"
    assert (by_nurse["resource"], by_nurse["identity_disclosed"]) == ("intake_record", True)
    assert (by_therapist["role"], by_therapist["identity_disclosed"]) == ("therapist", False)
    assert by_nurse["route"] == "/patients/{patient_id}"
    assert by_nurse["sites"] == ["site-north"]


@pytest.mark.parametrize(
    ("role", "sites", "status", "subject"),
    [
        (Role.COACH, "site-north", 403, "dev-coach"),
        (Role.NURSE, "site-south", 404, "dev-nurse"),
        (None, "", 401, None),
        (PO, "*", 403, "dev-privacy_officer"),
    ],
)
async def test_denied_attempts_are_audited_once(
    intake: Harness, role: Role | None, sites: str, status: int, subject: str | None
) -> None:
    pid = await referred(intake)
    answer = await get(intake, f"/patients/{pid}", role, sites)
    assert answer.status_code == status
    [denied] = entries(intake)[1:]
    assert (denied["outcome"], denied["subject"], denied["patient_id"]) == ("denied", subject, pid)
    assert denied["identity_disclosed"] is False


async def test_an_unknown_patient_is_a_denied_read_too(intake: Harness) -> None:
    assert (await get(intake, "/patients/pat-nobody", Role.NURSE)).status_code == 404
    [denied] = entries(intake)
    assert (denied["patient_id"], denied["outcome"]) == ("pat-nobody", "denied")


async def test_a_privacy_officer_erases_the_identity_and_the_care_record_stays(
    intake: Harness,
) -> None:
    pid = await referred(intake)
    erasure = f"/patients/{pid}/erasure"
    reason = {"reason": "the patient asked (ticket 4711)"}

    by_coordinator = await intake.post(erasure, reason, Role.INTAKE_COORDINATOR)
    no_reason = await intake.post(erasure, {}, PO)
    elsewhere = await intake.http.post(erasure, json=reason, headers=intake.token(PO, "site-south"))
    erased = await intake.post(erasure, reason, PO)
    again = await intake.post(erasure, reason, PO)
    read = await get(intake, f"/patients/{pid}", Role.NURSE)

    assert (by_coordinator.status_code, no_reason.status_code) == (403, 422)
    assert elsewhere.status_code == 404
    assert erased.status_code == 200, erased.text
    assert (again.status_code, again.json()["error"]) == (409, "IdentityAlreadyErased")
    assert (read.json()["identity"], read.json()["identity_erased"]) == (None, True)
    assert read.json()["phq9_total"] == 16, "the pseudonymous record stays"
    assert pid not in intake.db["identity_keys"].docs
    outcomes = [(e["action"], e["outcome"]) for e in entries(intake)[1:]]
    assert outcomes == [("erase", "denied"), ("erase", "failed"), ("erase", "denied"),
                        ("erase", "allowed"), ("erase", "failed"), ("read", "allowed")]  # fmt: skip
    assert not entries(intake)[-1]["identity_disclosed"]
    assert "4711" not in json.dumps(entries(intake), default=str)


async def test_entries_reach_the_trail_which_is_read_only_paginated_and_filtered(
    intake: Harness,
) -> None:
    ticks = count()
    intake.service.clock = lambda: NOW + timedelta(minutes=next(ticks))
    first, second = await referred(intake), await referred(intake)
    for _ in range(3):
        await get(intake, f"/patients/{first}", Role.PSYCHIATRIST)
    await get(intake, f"/patients/{second}", Role.COACH)
    logged = [dict(e) for e in entries(intake)]
    published: list[dict[str, Any]] = []

    async def publish(message: dict[str, Any]) -> None:
        published.append(message)

    assert await intake.service.http.state.audit.relay_outbox(publish) == 6
    assert {m["topic"] for m in published} == {AUDIT_TOPIC}
    assert not intake.db[AUDIT_OUTBOX].docs, "relayed entries leave the outbox"
    async with TestKafkaBroker(intake.service.broker) as broker:
        for message in published + published[:2]:  # a redelivery is kept once
            await broker.publish(json.loads(message["value"]), AUDIT_TOPIC, key=b"k")

    page = (await get(intake, f"/audit?patient_id={first}&limit=2", PO, "*")).json()
    rest = (await get(intake, f"/audit?patient_id={first}&limit=2&offset=2", PO, "*")).json()
    coach = (await get(intake, "/audit?subject=dev-coach", PO, "*")).json()
    assert [len(page["entries"]), page["next_offset"]] == [2, 2]
    assert [len(rest["entries"]), rest["next_offset"]] == [2, None]
    assert [e["outcome"] for e in coach["entries"]] == ["denied"]
    all_of_them = (await get(intake, "/audit?limit=500", PO, "*")).json()["entries"]
    assert sorted(e["entry_id"] for e in all_of_them) == sorted(e["_id"] for e in logged)
    start = all_of_them[3]["at"]
    since = await intake.http.get("/audit", params={"from": start}, headers=intake.token(PO, "*"))
    assert len(since.json()["entries"]) == 3

    assert (await get(intake, "/audit", PO, "site-north")).status_code == 403
    assert (await get(intake, "/audit", Role.OPS, "*")).status_code == 403
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        tried = await intake.http.request(method, "/audit", headers=intake.token(PO, "*"))
        assert tried.status_code == 405
    paths = intake.service.http.openapi()["paths"]
    assert {path: set(paths[path]) for path in paths if "audit" in path} == {"/audit": {"get"}}
    assert [dict(e) for e in entries(intake)] == logged, "no request altered an entry"
    AuditEntry.model_validate({k: v for k, v in logged[0].items() if k != "_id"})


async def test_session_record_reads_are_audited_denials_included(
    session_harness: SessionHarness,  # noqa: F811
) -> None:
    h = session_harness
    session = h.post("", {"appointment_id": "apt-1"}, 0).json()["session_id"]
    log = h.service.db[AUDIT_LOG]
    assert h.get(f"/{session}").status_code == 200
    assert h.get(f"/{session}", Role.COACH).status_code == 403
    assert h.get(f"/{session}/monitoring-form").status_code == 409, "no dose yet"
    docs: list[dict[str, Any]] = list(log.docs.values())
    outcomes = [(e["resource"], e["outcome"], e["role"]) for e in docs]
    assert outcomes == [("session_record", "allowed", "nurse"),
                        ("session_record", "denied", "coach"),
                        ("session_record", "failed", "nurse")]  # fmt: skip


async def test_an_overlong_patient_id_in_the_path_is_audited_not_a_server_error(
    intake: Harness,
) -> None:
    long_id = "p" * 500
    assert (await get(intake, f"/patients/{long_id}", Role.NURSE)).status_code == 404
    [denied] = entries(intake)
    assert denied["patient_id"] == long_id[:64]


async def test_a_task_list_writes_one_entry_per_patient_it_shows() -> None:
    coaching = CoachingHarness()
    for n, patient in enumerate(("pat-1", "pat-2", "pat-3"), start=1):
        await coaching.discharge(patient, n=n)  # least loaded: coaches take turns
    coach = coaching.collection.docs["pat-1"]["coach_id"]
    shown = {t["patient_id"] for t in coaching.queue(coach)}
    denied = coaching.http.get(f"/coaches/{coach}/tasks", headers=coaching.coach("coach-other"))

    docs: list[dict[str, Any]] = list(coaching.db[AUDIT_LOG].docs.values())
    allowed = [e for e in docs if e["outcome"] == "allowed"]
    assert len(shown) == 2, "pat-1 and pat-3 share a coach"
    assert len(allowed) == len(shown)
    assert {e["patient_id"] for e in allowed} == shown
    assert {e["resource"] for e in docs} == {"coaching_tasks"}
    assert denied.status_code in (403, 404)
    assert [(e["outcome"], e["patient_id"]) for e in docs if e not in allowed] == [("denied", None)]
