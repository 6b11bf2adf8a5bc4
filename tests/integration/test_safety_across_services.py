"""Safety facts owned by other services, on the real broker and database: a follow-up PHQ-9
flag from coaching stops the dose until intake's acknowledgement arrives, and a flag charted
before a dose but heard after it raises that dose for the prescriber (DESIGN safety
invariants 3-4; the findings "treatment while a follow-up risk flag is open")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import EventBase, Topic
from contracts.intake import RiskFlagAcknowledged, RiskFlagRaised
from contracts.vocabulary import RiskKind, RiskSeverity
from harness.running import auth, events_of, eventually, read_topic, running
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.session.main import create_app as session_app
from tests.integration.test_session_treatment_day import (
    APPOINTMENT,
    charting,
    check_in,
    enrolled_and_booked,
    publish,
    vitals,
)

pytestmark = pytest.mark.infra

SITE = "site-north"


def coaching_flag(pid: str, at: datetime, flag_id: uuid.UUID) -> RiskFlagRaised:
    """What coaching publishes when a follow-up PHQ-9 has item 9 above 0."""
    return RiskFlagRaised(
        event_id=uuid.uuid4(),
        occurred_at=at,
        patient_id=pid,
        site_id=SITE,
        correlation_id=uuid.uuid4(),
        producer="coaching",
        flag_id=flag_id,
        kind=RiskKind.PHQ9_ITEM9,
        severity=RiskSeverity.HIGH,
        acknowledge_by=at + timedelta(hours=24),
    )


async def test_a_follow_up_flag_from_coaching_holds_the_dose_until_intake_acknowledges_it(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    flag_id = uuid.uuid4()
    async with running(session_app(settings.for_service("session"))) as session:
        await enrolled_and_booked(settings, pid, APPOINTMENT)
        path = f"/patients/{pid}/sessions"
        session_id = await check_in(charting(session, settings, path, t0))
        chart = charting(session, settings, f"{path}/{session_id}/", t0)
        assert (await chart("vitals", vitals(128, 80), 20)).status_code == 201
        await publish(
            settings, Topic.COACHING, coaching_flag(pid, t0 + timedelta(minutes=21), flag_id)
        )

        async def gate_says(rule: str) -> dict[str, object] | None:
            """Probe the dose gate with an amount no protocol allows (never dosed): the facts
            are checked first, so the refusal names the flag once the session has heard it."""
            answer = await chart("dose", {"dose_mg": 57, "lot_number": "PROBE"}, 25)
            body: dict[str, object] = answer.json()
            return body if body.get("error") == rule else None

        await eventually(lambda: gate_says("OpenRiskFlag"), timeout=30)
        refusal = (await chart("dose", {"dose_mg": 56, "lot_number": "LOT-INT"}, 25)).json()
        assert refusal["error"] == "OpenRiskFlag"
        assert "phq9_item9 flag" in str(refusal["reasons"])

        acknowledged = RiskFlagAcknowledged(
            event_id=uuid.uuid4(),
            occurred_at=t0 + timedelta(minutes=23),
            patient_id=pid,
            site_id=SITE,
            correlation_id=uuid.uuid4(),
            producer="intake",
            flag_id=flag_id,
            acknowledged_by="dr-int",
        )
        await publish(settings, Topic.INTAKE, acknowledged)
        await eventually(lambda: gate_says("EsketamineDoseNotAllowed"), timeout=30)
        dosed = await chart("dose", {"dose_mg": 56, "lot_number": "LOT-INT"}, 25)
        assert dosed.status_code == 201, dosed.text


async def test_a_flag_charted_before_a_dose_but_heard_after_it_raises_the_dose(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    async with running(session_app(settings.for_service("session"))) as session:
        await enrolled_and_booked(settings, pid, APPOINTMENT)
        path = f"/patients/{pid}/sessions"
        session_id = await check_in(charting(session, settings, path, t0))
        chart = charting(session, settings, f"{path}/{session_id}/", t0)
        await chart("vitals", vitals(128, 80), 20)
        dose = await chart("dose", {"dose_mg": 56, "lot_number": "LOT-INT"}, 25)
        assert dose.status_code == 201, dose.text
        late: EventBase = coaching_flag(pid, t0 + timedelta(minutes=24), uuid.uuid4())
        await publish(settings, Topic.COACHING, late)

        async def raised() -> list[dict[str, object]] | None:
            messages = await read_topic(
                settings.kafka_bootstrap_servers,
                settings.kafka_topic_prefix + Topic.SESSION,
                pid,
                want=99,
                timeout=2,
            )
            found = [e for e in events_of(messages) if e["event_type"] == "UnsafeDoseDetected"]
            return found or None

        detected = await eventually(raised, timeout=40)
        view = await session.get(
            f"{path}/{session_id}", headers=auth(settings, Role.NURSE, sites=SITE)
        )
    assert [(e["rule"], e["session_id"]) for e in detected] == [("OpenRiskFlag", session_id)]
    assert view.json()["breaches"] == ["OpenRiskFlag"]
