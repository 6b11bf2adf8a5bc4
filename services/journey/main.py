"""Journey's composition root: consumes every topic, serves the projections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream_fastapi import FastStreamAPI
from pymongo.asynchronous.database import AsyncDatabase

from contracts import Topic
from services.journey.handlers import ops_routes, routes
from services.journey.identity import from_intake
from services.journey.projections import Projections
from services.runtime.batch import BatchConsumer, BatchSettings, subscribe_batch
from services.runtime.mongo import Document
from services.runtime.network import Network, load_network
from services.runtime.service import Service
from services.runtime.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None,
    *,
    db: AsyncDatabase[Document] | None = None,
    clock: Callable[[], datetime] | None = None,
    network: Network | None = None,
) -> FastStreamAPI:
    service = Service.create(
        "journey",
        settings or load_settings("journey"),
        title="KAP journey",
        description="Projections of every patient's journey, site dashboards and coach queues.",
        db=db,
        clock=clock,
    )
    projections = Projections(service.db)
    service.startup.append(projections.ensure_indexes)
    settings = service.settings
    batching = BatchSettings(
        settings.consumer_batch_max_records,
        settings.consumer_batch_timeout_ms,
        settings.consumer_fetch_max_wait_ms,
    )
    for topic in Topic:
        name = settings.kafka_topic_prefix + topic.value
        batch = BatchConsumer(service.dead_letters.group, projections.apply_batch,
                              service.dead_letters, service.metrics,
                              apply_all=projections.apply_all)  # fmt: skip
        told = f"journey projects every event of {name}, in batches grouped by patient"
        subscribe_batch(service.broker, name, batch, batching, told)
        service.topics.append(name)
    network = network or load_network()
    intake = from_intake(service.settings.intake_url)
    service.http.include_router(routes(service, projections, network, intake))
    service.http.include_router(ops_routes(service, projections))
    return service.asgi()
