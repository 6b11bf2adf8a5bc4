"""Builds a service: broker, database, outbox relay, dead letters, health routes and lifespan,
with its telemetry: traces (`tracing`), and Prometheus metrics at `/metrics` (`metrics`).

Each service's `main.create_app` calls `Service.create`, registers its stores, routes and
subscribers, then returns `service.asgi()`: FastAPI and FastStream joined by the maintained
`faststream_fastapi` integration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import EventBase, Stamp
from services.runtime import audit, consumer, errors, idempotency, tracing
from services.runtime.aggregate import AggregateStore, Indexed, oldest
from services.runtime.auth import Principal, bearer_principal, check_token_settings
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.lag import consumer_lag
from services.runtime.logging import configure_logging, get_logger
from services.runtime.metrics import HttpMetrics, Metrics
from services.runtime.mongo import Document, connect, database
from services.runtime.outbox import OutboxRelay
from services.runtime.readiness import READYZ_RESPONSES, readiness
from services.runtime.settings import Settings
from services.runtime.sweeper import Sweep, Sweeper
from services.runtime.topics import ensure_topics

S = TypeVar("S", bound=BaseModel)
log = get_logger(__name__)

StartupHook = Callable[[], Awaitable[None]]


@dataclass
class Service:
    name: str
    settings: Settings
    broker: KafkaBroker
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    relay: OutboxRelay
    dead_letters: DeadLetterPolicy
    http: FastAPI
    metrics: Metrics
    startup: list[StartupHook] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sweepers: list[Sweeper] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    """The (prefixed) topics this service consumes."""
    subscriptions: dict[str, consumer.Routes] = field(default_factory=dict)
    """The routing table: which events this service handles, per (unprefixed) topic."""

    @classmethod
    def create(
        cls,
        name: str,
        settings: Settings,
        *,
        title: str,
        description: str,
        db: AsyncDatabase[Document] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Service:
        """Wire a service; `db` replaces the MongoDB database (tests pass an in-memory twin)
        and `clock` the wall clock (tests pass a controlled one)."""
        check_token_settings(settings)
        configure_logging(name, settings.log_level)
        tracing.configure_tracing(name)
        tracing.instrument_pymongo()
        group = f"{settings.deployment}-{name}"
        metrics = Metrics(name, group, settings.mongodb_database)
        dead_letters = DeadLetterPolicy(
            group=group,
            max_attempts=settings.consumer_max_attempts,
            backoff_s=settings.consumer_retry_backoff_s,
            metrics=metrics,
        )
        broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.producer_linger_ms,
            client_id=group,
            middlewares=(
                tracing.kafka_middleware(),
                metrics.faststream,
                dead_letters.middleware(),
                consumer.CurrentMessage,
            ),
            logger=logging.getLogger(f"kap.{name}.broker"),
        )
        dead_letters.publish = broker.publish
        client = connect(settings)

        async def publish(entry: Document) -> Any:
            with tracing.resumed(entry.get("trace")):
                sent = await broker.publish(
                    entry["value"].encode(),
                    settings.kafka_topic_prefix + entry["topic"],
                    key=entry["key"].encode(),
                    headers={"event_type": entry["event_type"], "content-type": "application/json"},
                )
            metrics.outbox_relayed.inc()
            return sent

        relay = OutboxRelay([], publish, settings.outbox_poll_interval_s)
        http = FastAPI(
            title=title,
            description=description,
            version="0.1.0",
            responses=errors.ERROR_RESPONSES,
        )
        service = cls(
            name,
            settings,
            broker,
            client,
            db or database(client, settings),
            relay,
            dead_letters,
            http,
            metrics,
        )
        http.router.lifespan_context = service._lifespan
        http.state.settings = settings
        errors.install(http)
        idempotency.document(http)
        http.add_middleware(
            idempotency.IdempotencyKeys,
            responses=idempotency.Responses(service.db[idempotency.COLLECTION]),
            subject_of=lambda authorization: subject(bearer_principal(settings, authorization)),
        )
        http.state.service = service
        if clock is not None:
            service.clock = clock
        audit.attach(http, service.db, name, relay, lambda: service.clock())
        http.add_api_route("/healthz", service.healthz, methods=["GET"], tags=["ops"])
        http.add_api_route(
            "/readyz", service.readyz, methods=["GET"], tags=["ops"], responses=READYZ_RESPONSES
        )
        http.add_api_route("/metrics", service.scrape, methods=["GET"], include_in_schema=False)
        http.add_middleware(HttpMetrics, metrics=metrics)
        tracing.instrument_http(http)
        metrics.refreshers.append(service._refresh_lag)
        return service

    def store(
        self,
        collection: str,
        state_type: type[S],
        indexes: tuple[str, ...] = (),
        indexed: Indexed[S] | None = None,
    ) -> AggregateStore[S]:
        """An aggregate store whose outbox this service's relay drains; `indexed` names the
        top-level fields written with every state (for the `indexes` queries)."""
        store = AggregateStore(self.db[collection], state_type, indexes, indexed)
        store.on_commit = self.relay.nudge
        store.orphaned_after = timedelta(seconds=self.settings.outbox_orphaned_after_s)
        self.relay.stores.append(store)
        self.startup.append(store.ensure_indexes)
        self.metrics.refreshers.append(lambda: self._refresh_outbox(collection))
        return store

    def stamp(self, correlation_id: UUID | None = None) -> Stamp:
        """A stamp for events caused by an HTTP command (a new correlation unless given)."""
        return Stamp(self.clock(), self.name, correlation_id or uuid4(), uuid4)

    def stamp_for(self, cause: EventBase) -> Stamp:
        """A stamp for events emitted in reaction to `cause`."""
        return Stamp(self.clock(), self.name, cause.correlation_id, uuid4, cause.event_id)

    def sweep(self, name: str, sweep: Sweep) -> Sweeper:
        """Run `sweep(now)` every `SWEEP_INTERVAL_S` while the service is up."""
        sweeper = Sweeper(name, sweep, lambda: self.clock(), self.settings.sweep_interval_s)
        sweeper.observe = self._observe_sweep
        self.sweepers.append(sweeper)
        return sweeper

    def _observe_sweep(self, name: str, outcome: str, fired: int) -> None:
        self.metrics.sweeps.labels(name, outcome).inc()
        self.metrics.swept.labels(name).inc(fired)

    def subscribe(self, topic: str, routes: consumer.Routes) -> None:
        self.subscriptions[topic] = routes
        consumer.subscribe(
            self.broker,
            self.settings.kafka_topic_prefix + topic,
            group_id=self.dead_letters.group,
            routes=routes,
            metrics=self.metrics,
        )
        self.topics.append(self.settings.kafka_topic_prefix + topic)

    def asgi(self) -> FastStreamAPI:
        return FastStreamAPI(
            self.broker,
            application=self.http,
            asyncapi_path="/asyncapi",
            safe_connection=True,
        )

    @asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(self.settings)
        for hook in self.startup:
            await hook()
        self.relay.start()
        for sweeper in self.sweepers:
            sweeper.start()
        log.info("service_started", port=self.settings.http_port)
        try:
            yield
        finally:
            for sweeper in self.sweepers:
                await sweeper.stop()
            await self.relay.stop()
            await self.client.close()

    async def healthz(self) -> dict[str, str]:
        return {"status": "ok", "service": self.name}

    async def readyz(self) -> JSONResponse:
        """Ready when MongoDB and Kafka answer; otherwise `down` says which did not."""
        return await readiness(
            {
                "mongodb": lambda: self.db.command("ping"),
                "kafka": lambda: self.broker.ping(timeout=2.0),
            }
        )

    async def scrape(self) -> Response:
        """Prometheus exposition of this service's registry (gauges refreshed first)."""
        await self.metrics.refresh()
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def _refresh_outbox(self, collection: str) -> None:
        pending = self.db[collection].find({"outbox_pending": True}, {"outbox_since": 1})
        since = [doc.get("outbox_since") async for doc in pending]
        self.metrics.outbox_pending.labels(collection).set(len(since))
        first = oldest([{"stored_at": s} for s in since])
        age = (self.clock() - first).total_seconds() if first else 0.0
        self.metrics.outbox_age.labels(collection).set(max(age, 0.0))

    async def _refresh_lag(self) -> None:
        if not self.topics:
            return
        lag = await asyncio.wait_for(
            consumer_lag(self.settings, self.dead_letters.group, self.topics), timeout=5.0
        )
        for topic, behind in lag.items():
            self.metrics.lag.labels(topic, f"{self.dead_letters.group}.{topic}").set(behind)


def subject(principal: Principal | None) -> str | None:
    return principal.subject if principal else None


def serve(app: Any, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
