"""Subscribes a service's routing table (event type -> handler) to a topic.

Offsets are committed only after the handler returned, i.e. after its effect is stored
(AckPolicy.NACK_ON_ERROR; never FastStream's default ACK_FIRST).

What each consumer group does with a message that is not a good event for it; nothing is
dropped silently, and logs name the event type, topic, partition, offset and error class,
never the payload, which may carry health data:

- dead-lettered at once (`DeadLetterPolicy`; the partition keeps flowing): a body that is
  not JSON or not a JSON object; an object whose `event_type` is missing or not a type
  name (`OffContractMessage`); a known type that does not fit its contract
  (`ValidationError`): missing or wrongly typed fields, unknown fields outside a newer
  minor version, another *major* `schema_version` (`schema_major_unsupported`; a newer
  minor is read, its extra fields dropped), an `occurred_at` that is not ISO-8601 text with
  its offset (`iso8601_instant_required`; a number is never read as Unix seconds). Every
  group validates every known type, also those it does not handle, so each group refuses
  an off-contract event on its own.
- ignored explicitly, counted in `IGNORED` and logged: a type name this build does not
  know (`unknown_event_type`, at info: a newer producer may add types; an upgraded journey
  replays them with a rebuild), and a valid event of a type this group does not handle
  (`not_subscribed`, at debug: routine).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import structlog
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from opentelemetry import trace

from contracts import EventBase, parse_event
from contracts.catalog import UnknownEventType
from services.runtime.logging import get_logger

if TYPE_CHECKING:
    from services.runtime.metrics import Metrics

log = get_logger(__name__)

Handler = Callable[[Any], Awaitable[None]]
Routes = Mapping[type[EventBase], Handler]


class OffContractMessage(ValueError):
    """The message body is valid JSON but not an event object. Its text is fixed, never
    taken from the message, so it can go into dead-letter headers."""


EVENT_TYPE_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}", re.ASCII)
"""What an `event_type` looks like (`DoseAdministered`), known to this build or not."""

IGNORED: Counter[tuple[str, str]] = Counter()
"""Messages acknowledged without effect, by (consumer group, reason)."""


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
    """The JSON object of an event, with an `event_type` that names a type."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise OffContractMessage("message body is not a JSON object")
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or not EVENT_TYPE_NAME.fullmatch(event_type):
        raise OffContractMessage("event_type missing or malformed")
    return data


def ignore(group: str, reason: str, event_type: str, msg: StreamMessage[Any]) -> None:
    """Acknowledge a message without effect, visibly: counted and logged without payload."""
    IGNORED[(group, reason)] += 1
    level = logging.INFO if reason == "unknown_event_type" else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    record = msg.raw_message
    log.log(
        level,
        "message_ignored",
        reason=reason,
        event_type=event_type,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


def _data(msg: StreamMessage[Any]) -> dict[str, Any] | None:
    """The message's event object, parsed once per message (None when it is not one)."""
    cached = getattr(msg, "_kap_event_data", _UNSET)
    if cached is _UNSET:
        try:
            cached = decode(msg.body)
        except (ValueError, OffContractMessage):
            cached = None
        msg._kap_event_data = cached  # type: ignore[attr-defined]
    return cast(dict[str, Any] | None, cached)


_UNSET = object()


def of_type(event_type: type[EventBase]) -> Callable[[StreamMessage[Any]], Awaitable[bool]]:
    """A subscriber filter: messages whose `event_type` names this contract."""
    name = event_type.__name__

    async def matches(msg: StreamMessage[Any]) -> bool:
        data = _data(msg)
        return data is not None and data["event_type"] == name

    return matches


async def as_contract(msg: StreamMessage[Any]) -> dict[str, Any]:
    """The subscriber decoder: the project's tolerant parsing (`contracts.parse_event`), so a
    message that does not fit its contract raises inside the handler's scope and is
    dead-lettered there; what the handler's parameter then validates is the event as this
    build reads it (fields of a newer minor version dropped)."""
    return parse_event(decode(msg.body)).model_dump(mode="json")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def name(*parts: str) -> str:
    """A Python-identifier-like handler name (AsyncAPI names operations after handlers)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def subscribe(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    routes: Routes,
    metrics: Metrics | None = None,
) -> None:
    """Register on `topic` one FastStream handler per event type of `routes`, whose parameter
    is the contract model (so the live AsyncAPI page shows each payload's schema), and a last
    handler for every other message: off-contract ones raise (dead letter), the rest are
    ignored visibly.

    Each (service, topic) pair is its own consumer group, so a service's subscribers never
    rebalance one another and each topic's offsets are committed independently.
    """
    handled = ", ".join(sorted(cls.__name__ for cls in routes))
    consumer_group = f"{group_id}.{topic}"

    def counted(outcome: str) -> None:
        if metrics is not None:
            metrics.consumed.labels(topic, consumer_group, outcome).inc()

    subscriber = broker.subscriber(
        topic,
        group_id=consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=consumer_group,
        description=f"{group_id} handles {handled} from {topic}",
    )

    def typed(event_type: type[EventBase], handler: Handler) -> Handler:
        async def handle(event: EventBase) -> None:
            span = trace.get_current_span()
            span.set_attribute("messaging.consumer.group.name", consumer_group)
            span.set_attribute("kap.event_type", event.event_type)
            started = time.perf_counter()
            with structlog.contextvars.bound_contextvars(
                event_id=str(event.event_id),
                event_type=event.event_type,
                correlation_id=str(event.correlation_id),
            ):
                try:
                    await handler(event)
                finally:
                    if metrics is not None:
                        metrics.handler_duration.labels(topic, consumer_group).observe(
                            time.perf_counter() - started
                        )
            counted("handled")

        handle.__annotations__ = {"event": event_type, "return": None}
        handle.__name__ = handle.__qualname__ = f"{group_id}_on_{snake(event_type.__name__)}"
        handle.__doc__ = (
            handler.__doc__ or ""
        ).strip() or f"{group_id} handles {event_type.__name__}."
        return handle

    for event_type, handler in routes.items():
        subscriber(filter=of_type(event_type), decoder=as_contract)(typed(event_type, handler))

    async def other() -> None:
        """Every other message: dead-lettered when off-contract, otherwise ignored (counted)."""
        msg = current_message()
        data = decode(msg.body)
        try:
            event = parse_event(data)
        except UnknownEventType:
            ignore(consumer_group, "unknown_event_type", data["event_type"], msg)
            counted("ignored")
            return
        ignore(consumer_group, "not_subscribed", event.event_type, msg)
        counted("ignored")

    other.__name__ = other.__qualname__ = f"{group_id}_{topic}_other".replace(".", "_").replace(
        "-", "_"
    )
    subscriber(other)
