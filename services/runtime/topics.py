"""Creates the event and dead-letter topics a service needs before its consumers start."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from contracts import Topic, dlq
from contracts.topics import AUDIT_TOPIC
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

log = get_logger(__name__)

ALL_TOPICS = tuple(name for t in (*Topic, AUDIT_TOPIC) for name in (str(t), dlq(str(t))))


def topic_names(settings: Settings) -> list[str]:
    """Every event and dead-letter topic of this deployment, with its prefix."""
    return [settings.kafka_topic_prefix + name for name in ALL_TOPICS]


async def ensure_topics(settings: Settings, attempts: int = 30, delay_s: float = 1.0) -> None:
    """Create every topic that does not exist yet; waits for the broker up to `attempts`."""
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, settings.kafka_topic_partitions, settings.kafka_replication_factor)
                for name in topic_names(settings)
                if name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
            return
        except KafkaConnectionError:
            if attempt == attempts:
                raise
            log.info("waiting_for_kafka", attempt=attempt)
            await asyncio.sleep(delay_s)
        finally:
            await admin.close()
