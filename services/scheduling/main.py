"""Scheduling's composition root."""

from __future__ import annotations

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.mongo import Document
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings
from services.scheduling.admin import admin_routes
from services.scheduling.booker import COURSE_INDEXES, Booker
from services.scheduling.certification import SiteCertifications
from services.scheduling.course import Course
from services.scheduling.handlers import routes, subscriptions
from services.scheduling.network_store import NetworkStore, SchedulingConfig, load_config
from services.scheduling.reservations import Reservations


def create_app(
    settings: Settings | None = None,
    config: SchedulingConfig | None = None,
    db: AsyncDatabase[Document] | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "scheduling",
        settings or load_settings("scheduling"),
        title="KAP scheduling",
        description="Sites, chairs and provider calendars; protocol-driven treatment courses; "
        "REMS site rules; booking without double-booking.",
        db=db,
    )
    config = config or load_config()
    store = service.store("courses", Course, COURSE_INDEXES)
    reservations = Reservations(service.db)
    service.startup.append(reservations.ensure_indexes)
    networks = NetworkStore(service.db, config.network)
    booker = Booker(store, reservations, networks, config.rules)
    for topic, handlers in subscriptions(service, booker).items():
        service.subscribe(topic, handlers)
    service.sweep("reservation-orphans", booker.sweep_orphans)
    service.http.include_router(routes(service, booker))
    certifications = SiteCertifications(store, networks, config.rules, service.stamp)
    service.http.include_router(admin_routes(networks, certifications))
    return service.asgi()
