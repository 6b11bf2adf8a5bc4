"""Intake's composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faststream_fastapi import FastStreamAPI

from contracts import Topic
from services.intake.coverage import Payers, load_payers
from services.intake.domain import IntakeRecord
from services.intake.handlers import escalation_sweep, event_routes, routes
from services.intake.rules import IntakeRules
from services.intake.store import ESCALATION_PENDING, IntakeRecords, Responses
from services.runtime.consumer import Routes
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings

ESCALATION_SWEEP = "risk-flag-escalation"


@dataclass(frozen=True)
class Wired:
    """What tests drive directly: the subscribers' routing table and the sweep."""

    handlers: dict[Topic, Routes]
    sweep: Any
    records: IntakeRecords

    async def escalate(self, now: datetime) -> int:
        fired: int = await self.sweep(now)
        return fired


def wire(
    service: Service, rules: IntakeRules, network: Network, payers: Payers | None = None
) -> Wired:
    records = IntakeRecords(service.store("intake_records", IntakeRecord, (ESCALATION_PENDING,)))
    responses = Responses(service.db["idempotent_responses"])
    payers = payers or load_payers(rules.payers_config)
    service.http.include_router(routes(service, records, responses, rules, network, payers))
    handlers = event_routes(service, records)
    for topic, table in handlers.items():
        service.subscribe(topic, table)
    sweep = escalation_sweep(service, records)
    service.sweep(ESCALATION_SWEEP, sweep)
    return Wired(handlers, sweep, records)


def create_app(
    settings: Settings | None = None,
    rules: IntakeRules | None = None,
    network: Network | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "intake",
        settings or load_settings("intake"),
        title="KAP intake",
        description="Referrals, screening, safety rules, coverage and prescriber review.",
    )
    wire(service, rules or IntakeRules(), network or load_network())
    return service.asgi()
