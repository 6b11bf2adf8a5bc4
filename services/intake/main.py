"""Intake's composition root."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.audit_trail import AUDIT_TRAIL, AuditTrailStore, audit_routes, subscribe_audit
from services.intake.coverage import Payers, load_payers
from services.intake.erasure import erasure_routes
from services.intake.record import IntakeRecord
from services.intake.routes import routes
from services.intake.rules import IntakeRules
from services.intake.subscribers import (
    ESCALATION_PENDING,
    escalation_sweep,
    indexed,
    subscriptions,
)
from services.intake.vault import IDENTITY_KEYS, IdentityVault
from services.runtime.crypto import KeyRing
from services.runtime.mongo import Document
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings

ESCALATION_SWEEP = "risk-flag-escalation"


def create_app(
    settings: Settings | None = None,
    *,
    db: AsyncDatabase[Document] | None = None,
    clock: Callable[[], datetime] | None = None,
    rules: IntakeRules | None = None,
    network: Network | None = None,
    payers: Payers | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "intake",
        settings or load_settings("intake"),
        title="KAP intake",
        description="Referrals, screening, safety rules, coverage and prescriber review.",
        db=db,
        clock=clock,
    )
    rules = rules or IntakeRules()
    store = service.store("intake_records", IntakeRecord, (ESCALATION_PENDING,), indexed)
    payers = payers or load_payers(rules.payers_config)
    vault = IdentityVault(service.db[IDENTITY_KEYS], KeyRing.from_settings(service.settings))
    service.http.include_router(
        routes(service, store, rules, network or load_network(), payers, vault)
    )
    service.http.include_router(erasure_routes(service, store, vault))
    trail = AuditTrailStore(service.db[AUDIT_TRAIL])
    service.http.include_router(audit_routes(trail))
    subscribe_audit(service, trail)
    for topic, table in subscriptions(store).items():
        service.subscribe(topic, table)
    service.sweep(ESCALATION_SWEEP, escalation_sweep(service, store))
    return service.asgi()
