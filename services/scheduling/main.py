"""Scheduling's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.mongo import Document
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings
from services.scheduling.course import Course
from services.scheduling.handlers import routes, subscriptions
from services.scheduling.rules import SchedulingRules


def create_app(
    settings: Settings | None = None,
    rules: SchedulingRules | None = None,
    network: Network | None = None,
    db: AsyncDatabase[Document] | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "scheduling",
        settings or load_settings("scheduling"),
        title="KAP scheduling",
        description="Treatment courses, preparation and dosing appointments, REMS site rules.",
        db=db,
    )
    store = service.store("courses", Course)
    table = subscriptions(service, store, rules or SchedulingRules(), network or load_network())
    for topic, handlers in table.items():
        service.subscribe(topic, handlers)
    service.http.include_router(routes(store))
    return service.asgi()
