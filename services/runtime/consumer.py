"""Subscribes a service's routing table (event type -> handler) to a topic.

Offsets are committed only after the handler returned, i.e. after its effect is stored
(AckPolicy.NACK_ON_ERROR; never FastStream's default ACK_FIRST). Event types this build
does not know, or that the service does not handle, are acknowledged and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from contracts import EventBase, parse_event
from contracts.catalog import UnknownEventType
from services.runtime.logging import get_logger

log = get_logger(__name__)

Handler = Callable[[Any], Awaitable[None]]
Routes = Mapping[type[EventBase], Handler]


class OffContractMessage(ValueError):
    """The message body is valid JSON but not an event object."""


_consumed: ContextVar[StreamMessage[Any]] = ContextVar("consumed_message")


class CurrentMessage(BaseMiddleware):
    """Makes the consumed message available to the subscriber below.

    The FastAPI integration resolves FastStream contexts from the application's context
    repository, not the one the subscriber fills while consuming, so a plain ContextVar set
    around the call is the dependable way for a handler to see the raw record.
    """

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        token = _consumed.set(msg)
        try:
            return await call_next(msg)
        finally:
            _consumed.reset(token)


def current_message() -> StreamMessage[Any]:
    """The message being consumed (inside a subscriber running under `CurrentMessage`)."""
    return _consumed.get()


def decode(body: bytes) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise OffContractMessage("message body is not a JSON object")
    return data


def subscribe(broker: KafkaBroker, topic: str, *, group_id: str, routes: Routes) -> None:
    """Register one subscriber on `topic` dispatching through `routes`.

    Each (service, topic) pair is its own consumer group, so a service's subscribers never
    rebalance one another and each topic's offsets are committed independently.
    """
    handled = ", ".join(sorted(cls.__name__ for cls in routes))

    async def consume() -> None:
        try:
            event = parse_event(decode(current_message().body))
        except UnknownEventType:
            log.info("unknown_event_type_skipped", topic=topic)
            return
        handler = routes.get(type(event))
        if handler is None:
            return
        with structlog.contextvars.bound_contextvars(
            event_id=str(event.event_id),
            event_type=event.event_type,
            correlation_id=str(event.correlation_id),
        ):
            await handler(event)

    consume.__name__ = f"{group_id}_{topic}".replace(".", "_").replace("-", "_")
    broker.subscriber(
        topic,
        group_id=f"{group_id}.{topic}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description=f"{group_id} handles {handled} from {topic}",
    )(consume)
