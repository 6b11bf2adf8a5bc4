"""Intake on the real broker and database: flags on the topic, approval gated by them,
flags from other services, and escalation by two sweepers at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import Topic
from contracts.intake import RiskFlagRaised
from contracts.vocabulary import RiskKind, RiskSeverity
from harness.running import auth, events_of, eventually, produce, read_topic, running
from services.intake.main import ESCALATION_SWEEP, create_app
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.support import apps
from tests.support.apps import Built
from tests.unit.intake.builders import referral_body

pytestmark = pytest.mark.infra
ITEM9_ONE = [2, 2, 2, 2, 2, 2, 2, 2, 1]
APPROVE = {"decision": "approved", "protocol": "iv_ketamine_series", "planned_doses": 6}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def intake_service(settings: Settings, clock: Clock) -> Built:
    built = apps.build(create_app, "intake", settings=settings, real_database=True)
    built.service.clock = clock
    return built


@asynccontextmanager
async def intake(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, Built]]:
    built = intake_service(settings, clock)
    async with running(built.app) as client:
        yield client, built


async def intake_events(settings: Settings, pid: str, want: int) -> list[dict[str, Any]]:
    topic = settings.kafka_topic_prefix + Topic.INTAKE
    return events_of(await read_topic(settings.kafka_bootstrap_servers, topic, pid, want=want))


async def test_levothyroxine_and_item9_flag_both_and_approval_waits_for_acknowledgement(
    settings: Settings,
) -> None:
    coordinator = auth(settings, Role.INTAKE_COORDINATOR, "coord-1")
    psychiatrist = auth(settings, Role.PSYCHIATRIST, "dr-1")
    body = referral_body(phq9=ITEM9_ONE, medications=["levothyroxine"])
    async with intake(settings, Clock()) as (http, _):
        created = await http.post("/referrals", json=body, headers=coordinator)
        assert created.status_code == 201, created.text
        pid = created.json()["patient_id"]
        published = await intake_events(settings, pid, want=5)
        by_type = {e["event_type"]: e for e in published}
        assert by_type["MedicationInteractionFlagged"]["interaction"] == "levothyroxine"
        flag = by_type["RiskFlagRaised"]
        assert (flag["kind"], flag["severity"]) == ("phq9_item9", "high")
        assert "identity" not in flag

        refused = await http.post(
            f"/patients/{pid}/eligibility", json=APPROVE, headers=psychiatrist
        )
        assert refused.status_code == 409
        assert refused.json()["error"] == "UnacknowledgedRiskFlag"
        ack = await http.post(
            f"/patients/{pid}/risk-flags/{flag['flag_id']}/acknowledge",
            json={"note": "safety plan agreed"},
            headers=psychiatrist,
        )
        assert ack.status_code == 200, ack.text
        approved = await http.post(
            f"/patients/{pid}/eligibility", json=APPROVE, headers=psychiatrist
        )
        assert approved.status_code == 200, approved.text
        published = await intake_events(settings, pid, want=7)
    decided = [e for e in published if e["event_type"] == "EligibilityDecided"]
    assert [d["coverage_pathway"] for d in decided] == ["iv_partial_or_reimbursement"]
    assert [e["event_type"] for e in published][-2:] == [
        "RiskFlagAcknowledged",
        "EligibilityDecided",
    ]


async def test_a_flag_raised_by_the_session_service_holds_approval_here(
    settings: Settings,
) -> None:
    psychiatrist = auth(settings, Role.PSYCHIATRIST, "dr-1")
    coordinator = auth(settings, Role.INTAKE_COORDINATOR)
    async with intake(settings, Clock()) as (http, _):
        pid = (await http.post("/referrals", json=referral_body(), headers=coordinator)).json()[
            "patient_id"
        ]
        raised = RiskFlagRaised(
            event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), patient_id=pid,
            site_id="site-north", correlation_id=uuid.uuid4(), producer="session",
            flag_id=uuid.uuid4(), kind=RiskKind.SERIOUS_ADVERSE_EVENT,
            severity=RiskSeverity.URGENT, acknowledge_by=datetime.now(UTC) + timedelta(hours=1),
        )  # fmt: skip
        session_topic = settings.kafka_topic_prefix + Topic.SESSION
        for _ in range(2):
            await produce(settings.kafka_bootstrap_servers, session_topic, raised.to_bytes(), pid)

        async def flagged() -> Any:
            record = (await http.get(f"/patients/{pid}", headers=psychiatrist)).json()
            return record["flags"] or None

        flags = await eventually(flagged, timeout=60)
        assert list(flags) == [str(raised.flag_id)]
        refused = await http.post(
            f"/patients/{pid}/eligibility", json=APPROVE, headers=psychiatrist
        )
        assert refused.json()["error"] == "UnacknowledgedRiskFlag"


async def test_two_sweepers_on_one_database_publish_one_escalation(settings: Settings) -> None:
    clock = Clock()
    coordinator = auth(settings, Role.INTAKE_COORDINATOR)
    async with intake(settings, clock) as (http, first):
        created = await http.post(
            "/referrals", json=referral_body(phq9=ITEM9_ONE), headers=coordinator
        )
        pid = created.json()["patient_id"]
        second = intake_service(settings, clock)
        clock.now += timedelta(hours=25)
        fired = await asyncio.gather(
            first.sweep(ESCALATION_SWEEP, clock.now), second.sweep(ESCALATION_SWEEP, clock.now)
        )
        assert sum(fired) >= 1
        published = await intake_events(settings, pid, want=4 + sum(fired))
    escalations = [e for e in published if e["event_type"] == "RiskFlagEscalated"]
    assert len({e["event_id"] for e in escalations}) == 1, "copies share one id"
    assert len({e["occurred_at"] for e in escalations}) == 1, "and are identical"
