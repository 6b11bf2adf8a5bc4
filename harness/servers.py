"""Real Kafka and MongoDB-wire servers for the connected test tiers.

Order of preference: KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL from the environment, then
testcontainers when a Docker engine answers, then the project's local launcher
(infra/local/stack.sh: Kafka from Maven Central jars, FerretDB built with Go). Under CI=true
a server that cannot be had fails the run; it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "infra" / "local" / "stack.sh"


@dataclass(frozen=True)
class Servers:
    kafka: str
    mongodb: str
    source: str


class ServersUnavailable(RuntimeError):
    pass


def docker_engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


@contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer().with_kraft())
        mongo = stack.enter_context(MongoDbContainer("mongo:7"))
        yield Servers(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers")


def _stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK), *args], capture_output=True, text=True, timeout=1800, check=False
    )


@contextmanager
def _local_launcher() -> Iterator[Servers]:
    result = _stack("infra-up")
    if result.returncode != 0:
        raise ServersUnavailable(
            f"local launcher failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    kafka_port = os.environ.get("KAFKA_PORT", "9092")
    mongo_port = os.environ.get("MONGODB_PORT", "27017")
    summary = (result.stderr.strip().splitlines() or ["?"])[-1].split("] ", 1)[-1]
    yield Servers(f"127.0.0.1:{kafka_port}", f"mongodb://127.0.0.1:{mongo_port}",
                  f"local launcher: {summary}")  # fmt: skip


@contextmanager
def real_servers() -> Iterator[Servers]:
    kafka, mongodb = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongodb:
        yield Servers(kafka, mongodb, "environment")
    elif docker_engine_available():
        with _containers() as servers:
            yield servers
    else:
        with _local_launcher() as servers:
            yield servers


async def remove_deployment(servers: Servers, deployment: str) -> None:
    """Delete a test deployment's topics and databases."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient

    admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{deployment}.")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongodb)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{deployment}_"):
                await client.drop_database(name)
    finally:
        await client.close()
