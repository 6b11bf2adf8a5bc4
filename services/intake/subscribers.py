"""Intake's subscribers and its escalation sweep.

Risk flags raised by session and coaching become visible here, where a psychiatrist
acknowledges them and approvals consider them; a session prescriber's acknowledgement of a
session flag is learnt too (idempotent: the inbox drops repeats).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts import Topic
from contracts.intake import RiskFlagAcknowledged, RiskFlagRaised
from services.intake import flags
from services.intake.domain import IntakeRecord
from services.runtime.aggregate import AggregateStore
from services.runtime.consumer import Routes
from services.runtime.mongo import Document
from services.runtime.service import Service

ESCALATION_PENDING = "escalation_pending"


def indexed(record: IntakeRecord) -> Document:
    """Written with every record: whether a risk flag awaits escalation (the sweep's query)."""
    return {ESCALATION_PENDING: record.awaiting_escalation}


def subscriptions(store: AggregateStore[IntakeRecord]) -> dict[Topic, Routes]:
    """The routing table: which events intake learns from, per topic."""

    async def on_risk_flag_raised(event: RiskFlagRaised) -> None:
        await store.apply(
            event.patient_id,
            lambda r: flags.decide_flag_raised_elsewhere(r, event),
            inbox=[str(event.event_id)],
        )

    async def on_risk_flag_acknowledged(event: RiskFlagAcknowledged) -> None:
        await store.apply(
            event.patient_id,
            lambda r: flags.decide_flag_acknowledged_elsewhere(r, event),
            inbox=[str(event.event_id)],
        )

    return {
        Topic.SESSION: {
            RiskFlagRaised: on_risk_flag_raised,
            RiskFlagAcknowledged: on_risk_flag_acknowledged,
        },
        Topic.COACHING: {RiskFlagRaised: on_risk_flag_raised},
    }


def escalation_sweep(
    service: Service, store: AggregateStore[IntakeRecord]
) -> Callable[[datetime], Any]:
    """Escalate every risk flag whose acknowledgement deadline has passed, once."""

    async def sweep(now: datetime) -> int:
        return await store.sweep(
            {ESCALATION_PENDING: True},
            lambda record: flags.decide_escalations(record, now, service.name),
        )

    return sweep
