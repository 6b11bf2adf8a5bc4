"""Intake routes, subscribers and sweep over an in-memory database: no Kafka, no MongoDB."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import Topic
from contracts.intake import PatientReferred, RiskFlagAcknowledged, RiskFlagRaised
from contracts.vocabulary import RiskKind, RiskSeverity
from services.intake.flags import FlagForUnknownPatient
from services.intake.main import ESCALATION_SWEEP, create_app
from services.runtime.auth import Role, mint_token
from tests.support.apps import Wrapping, build
from tests.support.memory import MemoryDatabase
from tests.unit.intake.builders import referral_body

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ITEM9 = [1, 1, 1, 1, 1, 1, 1, 1, 1]


class Harness(Wrapping):
    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db or MemoryDatabase()
        self.built = build(create_app, "intake", db=self.db, now=NOW)
        self.settings, self.service = self.built.settings, self.built.service
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.service.http), base_url="http://intake"
        )

    async def escalate(self, now: datetime) -> int:
        return await self.built.sweep(ESCALATION_SWEEP, now)

    def token(self, role: Role, sites: str = "site-north", subject: str = "") -> dict[str, str]:
        token = mint_token(self.settings, subject or f"dev-{role.value}", role, sites.split(","))
        return {"Authorization": f"Bearer {token}"}

    async def post(
        self, path: str, body: Any, role: Role = Role.PSYCHIATRIST, key: str | None = None
    ) -> httpx.Response:
        headers = self.token(role) | ({"Idempotency-Key": key} if key else {})
        return await self.http.post(path, json=body, headers=headers)

    async def refer(self, key: str | None = None, **overrides: Any) -> httpx.Response:
        return await self.post(
            "/referrals", referral_body(**overrides), Role.INTAKE_COORDINATOR, key
        )

    def outbox(self, patient_id: str) -> list[str]:
        doc = self.db["intake_records"].docs[patient_id]
        return [entry["event_type"] for entry in doc["outbox"]]


@pytest.fixture
async def intake() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.http.aclose()


def error_at(response: httpx.Response) -> list[tuple[tuple[Any, ...], str]]:
    assert response.status_code == 422, response.text
    return [(tuple(e["loc"]), e["msg"]) for e in response.json()["detail"]]


async def test_a_referral_scores_flags_and_assesses_coverage(intake: Harness) -> None:
    created = await intake.refer(phq9=ITEM9, medications=["Levothyroxine"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["phq9_total"], body["interactions"]) == (9, ["levothyroxine"])
    assert len(body["open_risk_flags"]) == 1
    assert body["coverage"]["esketamine"] == "esketamine_covered"
    assert intake.outbox(body["patient_id"]) == [
        "PatientReferred", "ScreeningScored", "RiskFlagRaised",
        "MedicationInteractionFlagged", "CoverageAssessed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "loc", "why"),
    [
        ({"phq9": [1] * 8}, ("body", "phq9"), "PHQ-9 has exactly 9 items; got 8"),
        ({"phq9": [1] * 10}, ("body", "phq9"), "PHQ-9 has exactly 9 items; got 10"),
        ({"gad7": [1] * 6}, ("body", "gad7"), "GAD-7 has exactly 7 items; got 6"),
        ({"phq9": [1, 1, 1, 4, 1, 1, 1, 1, 1]}, ("body", "phq9", 3), "less than or equal to 3"),
        ({"gad7": [1, 1, 1, 1, 1, 1, -1]}, ("body", "gad7", 6), "greater than or equal to 0"),
        ({"intake_blood_pressure": {"systolic": 80, "diastolic": 120}},
         ("body", "intake_blood_pressure"), "diastolic must be below systolic"),
        ({"intake_blood_pressure": {"systolic": 400, "diastolic": 90}},
         ("body", "intake_blood_pressure", "systolic"), "less than or equal to 300"),
        ({"site_id": "site-nowhere"}, ("body", "site_id"), "unknown site 'site-nowhere'"),
        ({"payer": "acme"}, ("body", "payer"), "unknown payer 'acme'"),
        ({"conditions": ["gout"]}, ("body", "conditions", 0), "Input should be"),
        ({"antidepressant_trials": [{"drug": "x", "adequate_dose": True, "weeks": 6,
                                     "outcome": "meh"}]},
         ("body", "antidepressant_trials", 0, "outcome"), "Input should be"),
    ],
)  # fmt: skip
async def test_bad_referrals_get_a_422_naming_the_field_and_why(
    intake: Harness, overrides: dict[str, Any], loc: tuple[Any, ...], why: str
) -> None:
    [(where, message)] = error_at(await intake.refer(**overrides))
    assert where == loc
    assert why in message


@pytest.mark.parametrize(
    ("born", "why"),
    [
        ((datetime.now(UTC) + timedelta(days=1)).date(), "date_of_birth must be in the past"),
        (datetime.now(UTC).date(), "date_of_birth must be in the past"),
        (date(1850, 1, 1), "more than 130 years ago"),
    ],
)
async def test_an_impossible_date_of_birth_is_a_422(intake: Harness, born: date, why: str) -> None:
    identity = {"given_name": "T", "family_name": "P", "date_of_birth": born.isoformat()}
    [(where, message)] = error_at(await intake.refer(identity=identity))
    assert where == ("body", "identity", "date_of_birth")
    assert why in message


async def test_a_retried_referral_returns_the_first_result_and_creates_nothing(
    intake: Harness,
) -> None:
    first, again = await intake.refer(key="ref-1"), await intake.refer(key="ref-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert list(intake.db["intake_records"].docs) == [first.json()["patient_id"]]
    assert len(intake.outbox(first.json()["patient_id"])) == 3
    other = await intake.refer(key="ref-2")
    assert other.json()["patient_id"] != first.json()["patient_id"]


async def test_concurrent_retries_of_a_referral_create_one_patient(intake: Harness) -> None:
    answers = await asyncio.gather(*(intake.refer(key="same") for _ in range(5)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["patient_id"] for r in answers}) == 1
    assert len(intake.db["intake_records"].docs) == 1


async def test_a_key_reused_for_a_different_request_is_a_422(intake: Harness) -> None:
    await intake.refer(key="k")
    [(where, message)] = error_at(await intake.refer(key="k", referral_source="self"))
    assert where == ("header", "Idempotency-Key")
    assert "different request" in message


async def test_approval_is_refused_until_the_flag_is_acknowledged_and_retries_are_safe(
    intake: Harness,
) -> None:
    pid = (await intake.refer(phq9=ITEM9)).json()["patient_id"]
    approve = {"decision": "approved", "protocol": "iv_ketamine_series", "planned_doses": 6}
    refused = await intake.post(f"/patients/{pid}/eligibility", approve, key="a-1")
    assert refused.status_code == 409
    assert refused.json()["error"] == "UnacknowledgedRiskFlag"
    flag_id = refused.json()["reasons"][0].split()[-1]
    ack = await intake.post(
        f"/patients/{pid}/risk-flags/{flag_id}/acknowledge", {"note": "seen"}, key="ack-1"
    )
    assert ack.status_code == 200
    assert ack.json()["open_risk_flags"] == []
    first = await intake.post(f"/patients/{pid}/eligibility", approve, key="a-1")
    again = await intake.post(f"/patients/{pid}/eligibility", approve, key="a-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {
        "patient_id": pid, "decision": "approved", "protocol": "iv_ketamine_series",
        "modality": "intravenous",
    }  # fmt: skip
    assert intake.outbox(pid).count("EligibilityDecided") == 1
    unkeyed = await intake.post(f"/patients/{pid}/eligibility", approve)
    assert unkeyed.json()["error"] == "EligibilityAlreadyDecided"


async def test_a_contraindication_override_unblocks_approval(intake: Harness) -> None:
    created = await intake.refer(intake_blood_pressure={"systolic": 150, "diastolic": 85})
    pid = created.json()["patient_id"]
    assert created.json()["blocking_contraindications"] == ["uncontrolled_hypertension"]
    approve = {"decision": "approved", "protocol": "iv_ketamine_series"}
    refused = await intake.post(f"/patients/{pid}/eligibility", approve)
    assert refused.json()["reasons"] == ["uncontrolled_hypertension"]
    path = f"/patients/{pid}/contraindications/uncontrolled_hypertension/override"
    assert (await intake.post(path, {"reason": ""})).status_code == 422
    assert (await intake.post(path, {"reason": "white coat; home BP 128/82"})).status_code == 200
    assert (await intake.post(f"/patients/{pid}/eligibility", approve)).status_code == 200
    nurse = await intake.post(path, {"reason": "x" * 10}, role=Role.NURSE)
    assert nurse.status_code == 403


async def test_a_medication_update_after_approval_flags_new_interactions(
    intake: Harness,
) -> None:
    pid = (await intake.refer()).json()["patient_id"]
    approve = {"decision": "approved", "protocol": "iv_ketamine_series"}
    await intake.post(f"/patients/{pid}/eligibility", approve)
    updated = await intake.post(
        f"/patients/{pid}/medications", {"medications": ["Clonazepam"]}, role=Role.NURSE
    )
    assert updated.json()["interactions"] == ["cns_depressant"]
    assert intake.outbox(pid)[-2:] == ["MedicationsUpdated", "MedicationInteractionFlagged"]


async def test_the_record_is_role_and_site_scoped_and_identity_is_need_to_know(
    intake: Harness,
) -> None:
    pid = (await intake.refer()).json()["patient_id"]

    async def read(role: Role, sites: str = "site-north") -> httpx.Response:
        return await intake.http.get(f"/patients/{pid}", headers=intake.token(role, sites))

    for role in (Role.INTAKE_COORDINATOR, Role.PSYCHIATRIST, Role.NURSE):
        assert (await read(role)).json()["identity"]["family_name"] == "Patient"
    for role in (Role.THERAPIST, Role.SITE_ADMIN):
        assert "identity" not in (await read(role)).json()
    for role in (Role.COACH, Role.OPS):
        assert (await read(role)).status_code == 403
    assert (await read(Role.PSYCHIATRIST, "site-south")).status_code == 404
    assert (await intake.http.get(f"/patients/{pid}")).status_code == 401


def flag_from(producer: str, pid: str, hours: float = 24) -> RiskFlagRaised:
    return RiskFlagRaised(
        event_id=uuid.uuid4(), occurred_at=NOW, patient_id=pid, site_id="site-north",
        correlation_id=uuid.uuid4(), producer=producer, flag_id=uuid.uuid4(),
        kind=RiskKind.SERIOUS_ADVERSE_EVENT, severity=RiskSeverity.URGENT,
        acknowledge_by=NOW + timedelta(hours=hours),
    )  # fmt: skip


@pytest.mark.parametrize(("producer", "topic"), [("session", Topic.SESSION),
                                                 ("coaching", Topic.COACHING)])  # fmt: skip
async def test_flags_from_session_and_coaching_are_held_here_once(
    intake: Harness, producer: str, topic: Topic
) -> None:
    pid = (await intake.refer()).json()["patient_id"]
    event = flag_from(producer, pid)
    for _ in range(2):
        await intake.service.subscriptions[topic][RiskFlagRaised](event)
    record = await intake.http.get(f"/patients/{pid}", headers=intake.token(Role.PSYCHIATRIST))
    assert list(record.json()["flags"]) == [str(event.flag_id)]
    assert intake.outbox(pid) == ["PatientReferred", "ScreeningScored", "CoverageAssessed"]
    with pytest.raises(FlagForUnknownPatient):
        await intake.built.receive(topic, flag_from(producer, "pat-unknown"))


async def test_two_sweepers_escalate_an_overdue_flag_once() -> None:
    first = Harness()
    second = Harness(first.db)
    pid = (await first.refer(phq9=ITEM9)).json()["patient_id"]
    assert await first.escalate(NOW + timedelta(hours=23)) == 0
    fired = await asyncio.gather(
        first.escalate(NOW + timedelta(hours=24)),
        second.escalate(NOW + timedelta(hours=25)),
    )
    assert sorted(fired) == [0, 1]
    assert first.outbox(pid).count("RiskFlagEscalated") == 1
    assert await first.escalate(NOW + timedelta(days=3)) == 0
    doc = first.db["intake_records"].docs[pid]
    assert doc["escalation_pending"] is False
    await first.http.aclose()
    await second.http.aclose()


async def test_a_back_dated_referral_carries_when_it_reached_the_clinic(intake: Harness) -> None:
    received = NOW - timedelta(days=2)
    created = await intake.refer(received_at=received.isoformat())
    assert created.status_code == 201, created.text
    doc = intake.db["intake_records"].docs[created.json()["patient_id"]]
    referred = next(e for e in doc["outbox"] if e["event_type"] == "PatientReferred")
    assert PatientReferred.model_validate_json(referred["value"]).occurred_at == received


async def test_a_referral_received_in_the_future_is_refused_naming_the_rule(
    intake: Harness,
) -> None:
    refused = await intake.refer(received_at=(NOW + timedelta(hours=1)).isoformat())
    assert refused.status_code == 422
    assert refused.json()["error"] == "ReferralReceivedInTheFuture"
    assert intake.db["intake_records"].docs == {}, "nothing stored"


def occurred(intake: Harness, patient_id: str, event_type: str) -> datetime:
    doc = intake.db["intake_records"].docs[patient_id]
    entry = next(e for e in reversed(doc["outbox"]) if e["event_type"] == event_type)
    return datetime.fromisoformat(json.loads(entry["value"])["occurred_at"])


async def test_a_late_consent_and_approval_occur_at_their_charted_times(intake: Harness) -> None:
    referred = NOW - timedelta(days=3)
    pid = (await intake.refer(received_at=referred.isoformat())).json()["patient_id"]
    consented_at, decided_at = NOW - timedelta(days=2), NOW - timedelta(days=1)
    consent = {"consent": "treatment", "given": True, "recorded_at": consented_at.isoformat()}
    assert (await intake.post(f"/patients/{pid}/consents", consent)).status_code == 200
    approve = {"decision": "approved", "protocol": "iv_ketamine_series",
               "decided_at": decided_at.isoformat()}  # fmt: skip
    approved = await intake.post(f"/patients/{pid}/eligibility", approve)
    assert approved.status_code == 200, approved.text
    assert occurred(intake, pid, "ConsentRecorded") == consented_at
    assert occurred(intake, pid, "EligibilityDecided") == decided_at


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [("consents", "recorded_at", {"consent": "treatment", "given": True}),
     ("eligibility", "decided_at", {"decision": "approved", "protocol": "iv_ketamine_series"})],
)  # fmt: skip
@pytest.mark.parametrize(
    ("offset", "why"),
    [(timedelta(minutes=6), "is after now"),
     (-timedelta(days=2, seconds=1), "precedes the referral's received_at")],
)  # fmt: skip
async def test_a_charted_time_in_the_future_or_before_the_referral_is_a_422_naming_the_field(
    intake: Harness, path: str, field: str, body: dict[str, Any], offset: timedelta, why: str
) -> None:
    pid = (await intake.refer(received_at=(NOW - timedelta(days=2)).isoformat())).json()[
        "patient_id"
    ]
    before = list(intake.outbox(pid))
    refused = await intake.post(
        f"/patients/{pid}/{path}", body | {field: (NOW + offset).isoformat()}
    )
    assert refused.headers["content-type"] == "application/problem+json"
    ((loc, message),) = error_at(refused)
    assert loc == ("body", field)
    assert why in message
    assert intake.outbox(pid) == before, "nothing stored"


async def test_approval_while_treatment_consent_is_withdrawn_is_a_409_naming_the_rule(
    intake: Harness,
) -> None:
    pid = (await intake.refer()).json()["patient_id"]
    for given in (True, False):
        consent = {"consent": "treatment", "given": given}
        assert (await intake.post(f"/patients/{pid}/consents", consent)).status_code == 200
    approve = {"decision": "approved", "protocol": "iv_ketamine_series"}
    refused = await intake.post(f"/patients/{pid}/eligibility", approve)
    assert refused.status_code == 409
    assert refused.json()["error"] == "TreatmentConsentNotGiven"
    assert refused.json()["reasons"] == ["treatment consent refused or withdrawn"]


def acknowledged_in_session(flag: RiskFlagRaised) -> RiskFlagAcknowledged:
    return RiskFlagAcknowledged(
        event_id=uuid.uuid4(), occurred_at=NOW + timedelta(minutes=20),
        patient_id=flag.patient_id, site_id=flag.site_id, correlation_id=flag.correlation_id,
        causation_id=flag.event_id, producer="session", flag_id=flag.flag_id,
        acknowledged_by="dr-session",
    )  # fmt: skip


async def test_a_flag_acknowledged_in_the_session_service_is_acknowledged_here_once(
    intake: Harness,
) -> None:
    pid = (await intake.refer()).json()["patient_id"]
    raised = flag_from("session", pid, hours=1)
    handlers = intake.service.subscriptions[Topic.SESSION]
    await handlers[RiskFlagRaised](raised)
    acknowledged = acknowledged_in_session(raised)
    for _ in range(2):
        await handlers[RiskFlagAcknowledged](acknowledged)
    record = await intake.http.get(f"/patients/{pid}", headers=intake.token(Role.PSYCHIATRIST))
    flag = record.json()["flags"][str(raised.flag_id)]
    assert (flag["acknowledged"], flag["acknowledged_by"]) == (True, "dr-session")
    assert intake.outbox(pid) == ["PatientReferred", "ScreeningScored", "CoverageAssessed"]
    assert await intake.escalate(NOW + timedelta(hours=2)) == 0
    approve = {"decision": "approved", "protocol": "iv_ketamine_series"}
    assert (await intake.post(f"/patients/{pid}/eligibility", approve)).status_code == 200
    stranger = acknowledged_in_session(flag_from("session", pid))
    await handlers[RiskFlagAcknowledged](stranger)
    with pytest.raises(FlagForUnknownPatient):
        await handlers[RiskFlagAcknowledged](acknowledged_in_session(flag_from("session", "pat-x")))
