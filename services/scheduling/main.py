"""Scheduling's composition root."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.mongo import Document
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings
from services.scheduling.admin import admin_routes
from services.scheduling.booking import COURSE_INDEXES, indexed
from services.scheduling.certification import SiteCertifications
from services.scheduling.course import Course
from services.scheduling.network_store import NetworkStore, SchedulingConfig, load_config
from services.scheduling.reservations import Reservations
from services.scheduling.routes import routes
from services.scheduling.subscribers import Bookings, subscriptions

ORPHAN_SWEEP = "reservation-orphans"


def create_app(
    settings: Settings | None = None,
    *,
    db: AsyncDatabase[Document] | None = None,
    clock: Callable[[], datetime] | None = None,
    config: SchedulingConfig | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "scheduling",
        settings or load_settings("scheduling"),
        title="KAP scheduling",
        description="Sites, chairs and provider calendars; protocol-driven treatment courses; "
        "REMS site rules; booking without double-booking.",
        db=db,
        clock=clock,
    )
    config = config or load_config()
    store = service.store("courses", Course, COURSE_INDEXES, indexed)
    reservations = Reservations(service.db)
    service.startup.append(reservations.ensure_indexes)
    networks = NetworkStore(service.db, config.network)
    bookings = Bookings(store, reservations, networks, config.rules)
    for topic, table in subscriptions(service, bookings).items():
        service.subscribe(topic, table)
    service.sweep(ORPHAN_SWEEP, bookings.sweep_orphans)
    service.http.include_router(routes(service, bookings))
    certifications = SiteCertifications(store, networks, config.rules, service.stamp)
    service.http.include_router(admin_routes(networks, certifications))
    return service.asgi()
