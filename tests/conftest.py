"""Fixtures shared by the connected tiers (service, integration, e2e)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient

from services.runtime.settings import Settings
from tests.support.servers import Servers, ServersUnavailable, real_servers

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """A real Kafka broker and MongoDB-wire server; a failure, never a skip, under CI=true."""
    try:
        with real_servers() as found:
            print(f"\n[servers] kafka={found.kafka} mongodb={found.mongodb} via {found.source}")
            yield found
    except ServersUnavailable as error:
        if IN_CI:
            pytest.fail(f"CI needs real servers: {error}", pytrace=False)
        pytest.skip(f"no real servers on this machine: {error}")


@pytest.fixture
def deployment() -> str:
    """A fresh deployment name: its own databases and consumer groups on shared servers."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(servers: Servers, deployment: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers=servers.kafka,
        mongodb_url=servers.mongodb,
        deployment=deployment,
        consumer_retry_backoff_s=0.05,
        outbox_poll_interval_s=0.2,
    )


@pytest.fixture
async def mongo(servers: Servers) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongodb, tz_aware=True)
    yield client
    await client.close()
