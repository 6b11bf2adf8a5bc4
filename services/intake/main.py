"""Intake's composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faststream_fastapi import FastStreamAPI

from contracts import Topic
from services.intake.audit_trail import AUDIT_TRAIL, AuditTrailStore, audit_routes, subscribe_audit
from services.intake.coverage import Payers, load_payers
from services.intake.domain import IntakeRecord
from services.intake.erasure import erasure_routes
from services.intake.handlers import escalation_sweep, event_routes, routes
from services.intake.rules import IntakeRules
from services.intake.store import ESCALATION_PENDING, IntakeRecords, Responses
from services.intake.vault import IDENTITY_KEYS, IdentityVault
from services.runtime.consumer import Routes
from services.runtime.crypto import KeyRing
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
    vault: IdentityVault
    trail: AuditTrailStore

    async def escalate(self, now: datetime) -> int:
        fired: int = await self.sweep(now)
        return fired


def wire(
    service: Service, rules: IntakeRules, network: Network, payers: Payers | None = None
) -> Wired:
    records = IntakeRecords(service.store("intake_records", IntakeRecord, (ESCALATION_PENDING,)))
    responses = Responses(service.db["idempotent_responses"])
    payers = payers or load_payers(rules.payers_config)
    vault = IdentityVault(service.db[IDENTITY_KEYS], KeyRing.from_settings(service.settings))
    service.http.include_router(routes(service, records, responses, rules, network, payers, vault))
    service.http.include_router(erasure_routes(service, records, vault))
    trail = AuditTrailStore(service.db[AUDIT_TRAIL])
    service.http.include_router(audit_routes(trail))
    subscribe_audit(service, trail)
    handlers = event_routes(service, records)
    for topic, table in handlers.items():
        service.subscribe(topic, table)
    sweep = escalation_sweep(service, records)
    service.sweep(ESCALATION_SWEEP, sweep)
    return Wired(handlers, sweep, records, vault, trail)


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
