"""Journey's composition root: consumes every topic, serves the projections."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI

from contracts import Topic
from services.journey.domain import Journey
from services.journey.handlers import event_routes, routes
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings


def create_app(settings: Settings | None = None, network: Network | None = None) -> FastStreamAPI:
    service = Service.create(
        "journey",
        settings or load_settings("journey"),
        title="KAP journey",
        description="Projections of every patient's journey, site dashboards and coach queues.",
    )
    store = service.store("journeys", Journey, indexes=("site_id", "phase", "coach_id"))
    for topic in Topic:
        service.subscribe(topic.value, event_routes(store))
    service.http.include_router(routes(service, store, network or load_network()))
    return service.asgi()
