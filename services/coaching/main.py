"""Coaching's composition root."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.coaching.domain import CoachingRecord
from services.coaching.roster import CoachAvailability, Roster, load_roster
from services.coaching.routes import routes
from services.coaching.rules import CoachingRules
from services.coaching.store import (
    AVAILABILITY,
    AVAILABILITY_INDEXES,
    COLLECTION,
    RECORD_INDEXES,
    availability_indexed,
    indexer,
)
from services.coaching.subscribers import Coaching, subscriptions
from services.runtime.mongo import Document
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings

OVERDUE_SWEEP = "follow_up_overdue"


def create_app(
    settings: Settings | None = None,
    *,
    db: AsyncDatabase[Document] | None = None,
    clock: Callable[[], datetime] | None = None,
    rules: CoachingRules | None = None,
    network: Network | None = None,
    roster: Roster | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "coaching",
        settings or load_settings("coaching"),
        title="KAP coaching",
        description=(
            "Coach assignment and reassignment, follow-up tasks after each discharge, work "
            "queues, overdue escalation, integration sessions and PHQ-9 outcomes."
        ),
        db=db,
        clock=clock,
    )
    rules = rules or CoachingRules()
    coaching = Coaching(
        service,
        service.store(COLLECTION, CoachingRecord, RECORD_INDEXES, indexer(rules)),
        service.store(AVAILABILITY, CoachAvailability, AVAILABILITY_INDEXES, availability_indexed),
        rules,
        network or load_network(),
        roster or load_roster(rules.roster_config),
    )
    for topic, table in subscriptions(coaching).items():
        service.subscribe(topic, table)
    service.sweep(OVERDUE_SWEEP, coaching.sweep_overdue)
    service.http.include_router(routes(coaching))
    return service.asgi()
