"""One way every service tier test builds a service: its own `main.create_app` over an
in-memory database and a controlled clock, without Kafka (no lifespan runs). The harness drives
what the lifespan would: subscribers through the service's routing table, sweeps by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts import EventBase
from services.runtime.auth import Role, mint_token
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.support.memory import MemoryDatabase

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass
class Built:
    """A service built by its composition root, with the clock under the test's control."""

    name: str
    service: Service
    db: MemoryDatabase
    now: datetime = NOW
    app: Any = None
    """The ASGI app `create_app` returned (FastAPI and FastStream joined)."""
    _client: TestClient | None = field(default=None, repr=False)

    @property
    def http(self) -> FastAPI:
        return self.service.http

    @property
    def settings(self) -> Settings:
        return self.service.settings

    @property
    def client(self) -> TestClient:
        """A synchronous client of the HTTP app (no lifespan, so no broker)."""
        if self._client is None:
            self._client = TestClient(self.service.http)
        return self._client

    async def receive(self, topic: str, event: EventBase) -> None:
        """Deliver `event` as the subscriber of `topic` would: through the routing table."""
        await self.service.subscriptions[topic][type(event)](event)

    async def sweep(self, name: str, now: datetime | None = None) -> int:
        sweeper = next(s for s in self.service.sweepers if s.name == name)
        fired: int = await sweeper.sweep(now or self.now)
        return fired

    def headers(self, role: Role, sites: tuple[str, ...] = ("*",), subject: str | None = None
                ) -> dict[str, str]:  # fmt: skip
        token = mint_token(self.settings, subject or f"dev-{role.value}", role, sites,
                           now=datetime.now(UTC))  # fmt: skip
        return {"Authorization": f"Bearer {token}"}


class Wrapping:
    """For a test's own harness around a `Built` service: its clock and its deliveries."""

    built: Built

    @property
    def now(self) -> datetime:
        return self.built.now

    @now.setter
    def now(self, value: datetime) -> None:
        self.built.now = value

    async def receive(self, topic: str, event: EventBase) -> None:
        await self.built.receive(topic, event)


def roots() -> dict[str, Any]:
    """Each service's composition root (`services.<name>.main`), by service name."""
    from services.runtime.settings import SERVICE_PORTS

    return {name: importlib.import_module(f"services.{name}.main") for name in SERVICE_PORTS}


def build(
    create_app: Callable[..., Any],
    name: str,
    *,
    db: MemoryDatabase | None = None,
    now: datetime = NOW,
    settings: Settings | None = None,
    real_database: bool = False,
    **config: Any,
) -> Built:
    """`create_app(settings, db=…, clock=…, **config)` of service `name`: over an in-memory
    database, or with `real_database` over the one `settings` name (integration tier)."""
    memory = db if db is not None else MemoryDatabase()
    built = Built(name, cast(Service, None), memory, now)
    app = create_app(
        (settings or Settings()).for_service(name),
        db=None if real_database else cast(Any, memory),
        clock=lambda: built.now,
        **config,
    )
    built.app = app
    built.service = app._application.state.service
    return built
