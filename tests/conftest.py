"""Fixtures shared by the connected tiers (service, integration, e2e)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import NoReturn

import pytest
from pymongo import AsyncMongoClient

from harness.servers import Servers, ServersUnavailable, real_servers, remove_deployment
from services.runtime.settings import Settings
from services.runtime.topics import ensure_topics

IN_CI = os.environ.get("CI", "").lower() == "true"
os.environ.setdefault("DEV_MODE", "true")
"""Tests run in explicit development mode (the default JWT secret, a development identity
KEK), also in the service processes they start; a test that checks the refusal outside it
passes dev_mode=False itself."""


def missing_infrastructure(what: str) -> NoReturn:
    """Missing infrastructure fails under CI=true; a developer without it gets a skip saying
    so. One rule for every tier that needs servers or a browser."""
    if IN_CI:
        pytest.fail(f"CI needs {what}", pytrace=False)
    raise pytest.skip.Exception(f"missing {what} (under CI=true this fails)")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """A real Kafka broker and MongoDB-wire server; a failure, never a skip, under CI=true."""
    try:
        with real_servers() as found:
            print(f"\n[servers] kafka={found.kafka} mongodb={found.mongodb} via {found.source}")
            yield found
    except ServersUnavailable as error:
        missing_infrastructure(f"real servers: {error}")


@pytest.fixture
def deployment() -> str:
    """A fresh deployment name: its own databases and consumer groups on shared servers."""
    return f"t{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def throwaway(servers: Servers, deployment: str) -> AsyncIterator[Settings]:
    """Settings of a throwaway deployment: its own topics, databases and consumer groups,
    removed again afterwards."""
    configured = Settings(
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_prefix=f"{deployment}.",
        mongodb_url=servers.mongodb,
        deployment=deployment,
        consumer_retry_backoff_s=0.05,
        outbox_poll_interval_s=0.2,
    )
    await ensure_topics(configured)
    try:
        yield configured
    finally:
        await remove_deployment(servers, deployment)


@pytest.fixture
async def settings(servers: Servers, deployment: str) -> AsyncIterator[Settings]:
    async with throwaway(servers, deployment) as configured:
        yield configured


@pytest.fixture
async def mongo(servers: Servers) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongodb, tz_aware=True)
    yield client
    await client.close()


USED: dict[str, str] = {}
TIERS = ("unit", "service", "integration", "e2e", "browser", "chaos")


@pytest.fixture(scope="session", autouse=True)
def _record_servers(request: pytest.FixtureRequest) -> None:
    """Remember which servers the connected tiers used, for the closing summary."""
    if any(item.get_closest_marker("infra") for item in request.session.items):
        found: Servers = request.getfixturevalue("servers")
        USED.update(
            kafka=found.kafka,
            mongodb=found.mongodb,
            source=found.source,
            engine=_engine(found.mongodb),
        )


def _engine(url: str) -> str:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]]
    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        info = client.admin.command("buildInfo")
    return (
        f"FerretDB {info['ferretdbVersion']}"
        if "ferretdbVersion" in info
        else (f"MongoDB {info.get('version', '?')}")
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, dict[str, int]] = {tier: {} for tier in TIERS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            parts = getattr(report, "nodeid", "").split("/")
            if len(parts) > 1 and parts[0] == "tests" and parts[1] in counts:
                counts[parts[1]][outcome] = counts[parts[1]].get(outcome, 0) + 1
    terminalreporter.section("tiers")
    for tier, outcomes in counts.items():
        text = ", ".join(f"{n} {o}" for o, n in outcomes.items()) or "not run"
        terminalreporter.write_line(f"tier {tier:<12} {text}")
    if USED:
        terminalreporter.write_line(
            f"real servers: Kafka at {USED['kafka']}, {USED['engine']} at {USED['mongodb']} "
            f"(via {USED['source']})"
        )
