"""Coaching's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI

from services.coaching.handlers import Coaching, wire
from services.coaching.roster import Roster, load_roster
from services.coaching.routes import routes
from services.coaching.rules import CoachingRules
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings


def build(
    service: Service,
    rules: CoachingRules | None = None,
    network: Network | None = None,
    roster: Roster | None = None,
) -> Coaching:
    """Wire coaching into `service` (tests pass a service over an in-memory database)."""
    rules = rules or CoachingRules()
    coaching = wire(
        service, rules, network or load_network(), roster or load_roster(rules.roster_config)
    )
    service.http.include_router(routes(coaching))
    return coaching


def create_service(settings: Settings | None = None) -> Service:
    return Service.create(
        "coaching",
        settings or load_settings("coaching"),
        title="KAP coaching",
        description=(
            "Coach assignment and reassignment, follow-up tasks after each discharge, work "
            "queues, overdue escalation, integration sessions and PHQ-9 outcomes."
        ),
    )


def create_app(
    settings: Settings | None = None,
    rules: CoachingRules | None = None,
    network: Network | None = None,
    roster: Roster | None = None,
) -> FastStreamAPI:
    service = create_service(settings)
    build(service, rules, network, roster)
    return service.asgi()
