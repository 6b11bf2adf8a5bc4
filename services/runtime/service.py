"""Builds a service: broker, database, outbox relay, dead letters, health routes and lifespan.

Each service's `main.create_app` calls `Service.create`, registers its stores, routes and
subscribers, then returns `service.asgi()`: FastAPI and FastStream joined by the maintained
`faststream_fastapi` integration.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream_fastapi import FastStreamAPI
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts import EventBase, Stamp
from services.runtime import consumer, errors
from services.runtime.aggregate import AggregateStore
from services.runtime.dead_letter import DeadLetterPolicy
from services.runtime.logging import configure_logging, get_logger
from services.runtime.mongo import Document, connect, database
from services.runtime.outbox import OutboxRelay
from services.runtime.settings import Settings
from services.runtime.sweeper import Sweep, Sweeper
from services.runtime.topics import ensure_topics

S = TypeVar("S", bound=BaseModel)
log = get_logger(__name__)

StartupHook = Callable[[], Awaitable[None]]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]


READYZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Readiness, "description": "Ready"},
    503: {"model": Readiness, "description": "Not ready: the checks say which dependency failed"},
}


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
    startup: list[StartupHook] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sweepers: list[Sweeper] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        name: str,
        settings: Settings,
        *,
        title: str,
        description: str,
        db: AsyncDatabase[Document] | None = None,
    ) -> Service:
        """Wire a service; `db` replaces the MongoDB database (tests pass an in-memory twin)."""
        configure_logging(name, settings.log_level)
        group = f"{settings.deployment}-{name}"
        dead_letters = DeadLetterPolicy(
            group=group,
            max_attempts=settings.consumer_max_attempts,
            backoff_s=settings.consumer_retry_backoff_s,
        )
        broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            client_id=group,
            middlewares=(dead_letters.middleware(), consumer.CurrentMessage),
            logger=logging.getLogger(f"kap.{name}.broker"),
        )
        dead_letters.publish = broker.publish
        client = connect(settings)

        async def publish(entry: Document) -> Any:
            return await broker.publish(
                entry["value"].encode(),
                settings.kafka_topic_prefix + entry["topic"],
                key=entry["key"].encode(),
                headers={"event_type": entry["event_type"], "content-type": "application/json"},
            )

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
        )
        http.router.lifespan_context = service._lifespan
        http.state.settings = settings
        errors.install(http)
        http.add_api_route("/healthz", service.healthz, methods=["GET"], tags=["ops"])
        http.add_api_route(
            "/readyz", service.readyz, methods=["GET"], tags=["ops"], responses=READYZ_RESPONSES
        )
        return service

    def store(
        self, collection: str, state_type: type[S], indexes: tuple[str, ...] = ()
    ) -> AggregateStore[S]:
        """An aggregate store whose outbox this service's relay drains."""
        store = AggregateStore(self.db[collection], state_type, indexes)
        store.on_commit = self.relay.nudge
        store.orphaned_after = timedelta(seconds=self.settings.outbox_orphaned_after_s)
        self.relay.stores.append(store)
        self.startup.append(store.ensure_indexes)
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
        self.sweepers.append(sweeper)
        return sweeper

    def subscribe(self, topic: str, routes: consumer.Routes) -> None:
        consumer.subscribe(
            self.broker,
            self.settings.kafka_topic_prefix + topic,
            group_id=self.dead_letters.group,
            routes=routes,
        )

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
        checks: dict[str, bool] = {}
        try:
            checks["mongodb"] = bool((await self.db.command("ping")).get("ok"))
        except Exception:
            checks["mongodb"] = False
        try:
            checks["kafka"] = await self.broker.ping(timeout=2.0)
        except Exception:
            checks["kafka"] = False
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def serve(app: Any, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
