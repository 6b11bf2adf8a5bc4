"""Session's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI

from contracts import Topic
from services.runtime.consumer import Routes
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings
from services.session.handlers import Store, clock_sweep, event_routes, routes
from services.session.record import TreatmentRecord
from services.session.rules import SessionRules


def wire(service: Service, store: Store, rules: SessionRules) -> dict[Topic, Routes]:
    """Routes, refusal rendering, subscriptions and the monitoring-clock sweep; returns the
    event routing table."""
    service.http.include_router(routes(service, store, rules))
    service.sweep("session-monitoring-clocks", clock_sweep(store, rules))
    handlers = event_routes(service, store, rules)
    for topic, table in handlers.items():
        service.subscribe(topic, table)
    return handlers


def create_app(
    settings: Settings | None = None, rules: SessionRules | None = None
) -> FastStreamAPI:
    service = Service.create(
        "session",
        settings or load_settings("session"),
        title="KAP session",
        description="Treatment days: check-in, vitals and BP gate, dose, monitoring clocks, "
        "adverse events, discharge and the REMS monitoring form.",
    )
    store = service.store("treatment_records", TreatmentRecord, indexes=("clocks_pending",))
    wire(service, store, rules or SessionRules())
    return service.asgi()
