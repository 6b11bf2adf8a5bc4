"""Session's composition root."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.commands import Commands
from services.runtime.mongo import Document
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings
from services.session.clocks import clock_index
from services.session.record import PatientNotFound, TreatmentRecord
from services.session.routes import in_scope, routes
from services.session.rules import SessionRules
from services.session.subscribers import clock_sweep, subscriptions

CLOCK_SWEEP = "session-monitoring-clocks"


def create_app(
    settings: Settings | None = None,
    *,
    db: AsyncDatabase[Document] | None = None,
    clock: Callable[[], datetime] | None = None,
    rules: SessionRules | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "session",
        settings or load_settings("session"),
        title="KAP session",
        description="Treatment days: check-in, vitals and BP gate, dose, monitoring clocks, "
        "adverse events, discharge and the REMS monitoring form.",
        db=db,
        clock=clock,
    )
    rules = rules or SessionRules()
    store = service.store(
        "treatment_records",
        TreatmentRecord,
        indexes=("clocks_pending",),
        indexed=partial(clock_index, rules=rules),
    )
    service.http.include_router(routes(service, Commands(store, PatientNotFound, in_scope), rules))
    for topic, table in subscriptions(service, store, rules).items():
        service.subscribe(topic, table)
    service.sweep(CLOCK_SWEEP, clock_sweep(store, rules))
    return service.asgi()
