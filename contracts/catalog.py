"""The event catalog: which events exist, which topic carries them, and tolerant parsing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from contracts import coaching, intake, scheduling, session
from contracts.envelope import SCHEMA_VERSION, EventBase
from contracts.topics import Topic

Event = EventBase

TOPIC_EVENTS: dict[Topic, tuple[type[EventBase], ...]] = {
    Topic.INTAKE: intake.EVENTS,
    Topic.SCHEDULING: scheduling.EVENTS,
    Topic.SESSION: session.EVENTS,
    Topic.COACHING: coaching.EVENTS,
}
"""Each producing service lists its own events in its contracts module (`EVENTS`)."""

PRODUCER_TOPIC: dict[str, Topic] = {
    "intake": Topic.INTAKE,
    "scheduling": Topic.SCHEDULING,
    "session": Topic.SESSION,
    "coaching": Topic.COACHING,
}

EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["event_type"].default: cls
    for events in TOPIC_EVENTS.values()
    for cls in events
}


class UnknownEventType(ValueError):
    """The message names an event type this build does not know (a newer producer)."""


def topic_of(event: EventBase) -> Topic:
    """Each producing service owns one topic (DESIGN: one topic per producing service)."""
    return PRODUCER_TOPIC[event.producer]


def _major_minor(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _is_newer_minor(version: object) -> bool:
    if not isinstance(version, str):
        return False
    try:
        theirs, ours = _major_minor(version), _major_minor(SCHEMA_VERSION)
    except ValueError:
        return False
    return theirs[0] == ours[0] and theirs[1] > ours[1]


def _without(data: Any, loc: tuple[int | str, ...]) -> Any:
    """Drop the field at `loc` from nested dicts/lists (a copy; the input is untouched)."""
    if not loc or not isinstance(data, dict | list):
        return data
    head, rest = loc[0], loc[1:]
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {k: (_without(v, rest) if k == head else v) for k, v in data.items()}
    return [(_without(v, rest) if i == head else v) for i, v in enumerate(data)]


def parse_event(data: Mapping[str, Any]) -> EventBase:
    """Parse a consumed message into its event model.

    Producers reject unknown fields; consumers tolerate fields added by a newer *minor*
    version of the same major schema (DESIGN: events and messaging rules). Raises
    `UnknownEventType` for event types this build does not know, and `ValidationError`
    for anything else that does not fit the contract.
    """
    event_type = data.get("event_type")
    cls = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise UnknownEventType(str(event_type)[:64])
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        extras = [e["loc"] for e in error.errors() if e["type"] == "extra_forbidden"]
        if (
            not extras
            or len(extras) != error.error_count()
            or not _is_newer_minor(data.get("schema_version"))
        ):
            raise
        trimmed: Any = dict(data)
        for loc in extras:
            trimmed = _without(trimmed, loc)
        return cls.model_validate(trimmed)
