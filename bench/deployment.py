"""A throwaway deployment on the local servers for one benchmark run: its own topics and
databases, removed afterwards, so runs never disturb the stack or each other."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from harness.servers import Servers, remove_deployment
from services.runtime.settings import Settings
from services.runtime.topics import ensure_topics


@asynccontextmanager
async def throwaway(prefix: str) -> AsyncIterator[Settings]:
    deployment = f"{prefix}{uuid.uuid4().hex[:8]}"
    settings = Settings(
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        mongodb_url=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017"),
        kafka_topic_prefix=f"{deployment}.",
        deployment=deployment,
    )
    await ensure_topics(settings)
    try:
        yield settings
    finally:
        servers = Servers(settings.kafka_bootstrap_servers, settings.mongodb_url, "bench")
        await remove_deployment(servers, deployment)
