"""Events and topics: the only code the services share."""

from contracts.catalog import EVENT_TYPES, Event, parse_event, topic_of
from contracts.envelope import EventBase, Stamp, stable_id
from contracts.topics import Topic, dlq

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventBase",
    "Stamp",
    "Topic",
    "dlq",
    "parse_event",
    "stable_id",
    "topic_of",
]
