"""Dead-letter middleware: bounded retries, then `<topic>.dlq` with provenance headers.

FastStream has no Kafka DLQ of its own. Poison messages (unparseable or off-contract, as
`services.runtime.consumer` lists them) go to the dead-letter topic at once; handler failures
after `max_attempts`; infrastructure outages (database or broker unreachable) are re-raised
so the subscriber's NACK_ON_ERROR policy rewinds the partition and the message is
redelivered once the outage ends.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from pydantic import ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout

from contracts import dlq
from services.runtime.consumer import OffContractMessage
from services.runtime.logging import get_logger
from services.runtime.mongo import storage_unreachable

if TYPE_CHECKING:
    from services.runtime.metrics import Metrics

log = get_logger(__name__)

POISON = (json.JSONDecodeError, UnicodeDecodeError, ValidationError, OffContractMessage)
"""Errors that retrying cannot fix: the message itself is wrong."""

INFRASTRUCTURE = (ConnectionFailure, AutoReconnect, NetworkTimeout)
"""Errors that say nothing about the message: stop, wait, redeliver."""


def outage(error: BaseException) -> bool:
    """The database or broker is out of reach (also behind FerretDB): not the message's fault."""
    return isinstance(error, INFRASTRUCTURE) or storage_unreachable(error)


Publish = Callable[..., Awaitable[Any]]


def where(error: BaseException) -> list[str]:
    """The failing frames (file:line function) without the message, which may carry data."""
    frames = traceback.extract_tb(error.__traceback__)[-6:]
    return [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in frames]


def describe(error: BaseException) -> str:
    """A header-safe error summary: field locations and error kinds, never input values."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}" for e in error.errors()
        )[:500]
    if isinstance(error, OffContractMessage):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


@dataclass
class DeadLetterPolicy:
    group: str
    max_attempts: int = 3
    backoff_s: float = 0.2
    publish: Publish | None = field(default=None, repr=False)
    metrics: Metrics | None = field(default=None, repr=False)

    def failed(self, msg: StreamMessage[Any], error: BaseException) -> None:
        if self.metrics is not None:
            topic = msg.raw_message.topic
            group = f"{self.group}.{topic}"
            self.metrics.failed.labels(topic, group, type(error).__name__).inc()

    async def dead_letter(
        self, msg: StreamMessage[Any], error: BaseException, attempts: int
    ) -> None:
        if self.publish is None:
            raise RuntimeError("dead-letter policy has no publisher bound")
        record = msg.raw_message
        headers = {
            "dlq.original_topic": record.topic,
            "dlq.original_partition": str(record.partition),
            "dlq.original_offset": str(record.offset),
            "dlq.error_class": type(error).__name__,
            "dlq.error": describe(error),
            "dlq.attempts": str(attempts),
            "dlq.consumer_group": f"{self.group}.{record.topic}",
            "dlq.failed_at": datetime.now(UTC).isoformat(),
        }
        await self.publish(record.value or b"", dlq(record.topic), key=record.key, headers=headers)
        if self.metrics is not None:
            group, error_class = headers["dlq.consumer_group"], type(error).__name__
            self.metrics.dead_letters.labels(record.topic, group, error_class).inc()
            self.metrics.consumed.labels(record.topic, group, "dead_lettered").inc()
        log.error(
            "message_dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_class=type(error).__name__,
            frames=[] if isinstance(error, POISON) else where(error),
        )

    def middleware(self) -> Callable[..., BaseMiddleware]:
        policy = self

        class DeadLetterMiddleware(BaseMiddleware):
            async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
                if isinstance(msg.raw_message, (tuple, list)):
                    return await call_next(msg)  # a batch dead-letters its own records (batch.py)
                attempt = 0
                while True:
                    attempt += 1
                    try:
                        return await call_next(msg)
                    except POISON as error:
                        policy.failed(msg, error)
                        await policy.dead_letter(msg, error, attempt)
                        return None
                    except Exception as error:
                        policy.failed(msg, error)
                        if outage(error):
                            await asyncio.sleep(policy.backoff_s)
                            raise
                        if attempt < policy.max_attempts:
                            await asyncio.sleep(policy.backoff_s * attempt)
                            continue
                        await policy.dead_letter(msg, error, attempt)
                        return None

        return DeadLetterMiddleware
