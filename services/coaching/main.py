"""Coaching's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI

from services.coaching.domain import CoachingRecord
from services.coaching.handlers import event_routes, routes
from services.coaching.rules import CoachingRules
from services.coaching.store import COLLECTION
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None,
    rules: CoachingRules | None = None,
    network: Network | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "coaching",
        settings or load_settings("coaching"),
        title="KAP coaching",
        description="Coach assignment, follow-up tasks after each discharge and PHQ-9 outcomes.",
    )
    rules, network = rules or CoachingRules(), network or load_network()
    store = service.store(COLLECTION, CoachingRecord, indexes=("coach_id", "site_id"))
    for topic, handlers in event_routes(service, store, rules, network).items():
        service.subscribe(topic, handlers)
    service.http.include_router(routes(service, store, rules, network))
    return service.asgi()
