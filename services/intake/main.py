"""Intake's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI

from services.intake.domain import IntakeRecord
from services.intake.handlers import routes
from services.intake.rules import IntakeRules
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None,
    rules: IntakeRules | None = None,
    network: Network | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "intake",
        settings or load_settings("intake"),
        title="KAP intake",
        description="Referrals, screening, safety rules and prescriber eligibility review.",
    )
    store = service.store("intake_records", IntakeRecord)
    service.http.include_router(
        routes(service, store, rules or IntakeRules(), network or load_network())
    )
    return service.asgi()
