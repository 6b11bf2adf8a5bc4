"""The event catalog: strict on produce, tolerant of newer minor versions on consume."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from pydantic import ValidationError

from contracts import EVENT_TYPES, Topic, dlq, parse_event, topic_of
from contracts.catalog import TOPIC_EVENTS, UnknownEventType
from contracts.generate import artefacts
from contracts.intake import PatientReferred
from harness.events import referred, stamp

GENERATED = __import__("contracts.generate", fromlist=["GENERATED"]).GENERATED


def as_message(event: PatientReferred) -> dict[str, object]:
    return event.model_dump(mode="json")


def test_every_event_type_is_carried_by_at_least_one_topic() -> None:
    carried = {cls for events in TOPIC_EVENTS.values() for cls in events}
    assert carried == set(EVENT_TYPES.values())
    assert len(EVENT_TYPES) >= 28


def test_an_event_goes_to_the_topic_of_its_producing_service() -> None:
    assert topic_of(referred("pat-1")) is Topic.INTAKE
    assert dlq(Topic.SESSION.value) == "kap.session.events.dlq"


def test_a_consumed_event_round_trips_to_the_same_model() -> None:
    event = referred("pat-1")
    assert parse_event(as_message(event)) == event


def test_producers_reject_unknown_fields() -> None:
    fields = {**as_message(referred("pat-1")), "favourite_colour": "blue"}
    with pytest.raises(ValidationError, match="favourite_colour"):
        PatientReferred.model_validate(fields)


def test_consumers_tolerate_fields_added_by_a_newer_minor_version() -> None:
    message = {**as_message(referred("pat-1")), "schema_version": "1.3", "triage_lane": "b"}
    message["identity"] = {**message["identity"], "preferred_language": "es"}  # type: ignore[dict-item]
    parsed = parse_event(message)
    assert isinstance(parsed, PatientReferred)
    assert parsed.patient_id == "pat-1"


def test_unknown_fields_in_the_same_minor_version_are_still_rejected() -> None:
    message = {**as_message(referred("pat-1")), "triage_lane": "b"}
    with pytest.raises(ValidationError):
        parse_event(message)


def test_a_newer_major_version_with_extra_fields_is_rejected() -> None:
    message = {**as_message(referred("pat-1")), "schema_version": "2.0", "triage_lane": "b"}
    with pytest.raises(ValidationError):
        parse_event(message)


def test_an_unknown_event_type_is_reported_as_such() -> None:
    with pytest.raises(UnknownEventType):
        parse_event({"event_type": "PatientTeleported"})


def test_naive_timestamps_are_rejected_and_aware_ones_normalised_to_utc() -> None:
    message = as_message(referred("pat-1"))
    with pytest.raises(ValidationError, match="occurred_at"):
        parse_event({**message, "occurred_at": "2026-03-02T09:00:00"})
    parsed = parse_event({**message, "occurred_at": "2026-03-02T09:00:00-05:00"})
    assert parsed.occurred_at == datetime.fromisoformat("2026-03-02T14:00:00+00:00")
    assert parsed.occurred_at.utcoffset() is not None
    assert parsed.occurred_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_the_stamp_chains_causation_and_keeps_the_correlation() -> None:
    cause = referred("pat-1")
    follow = stamp("scheduling", seed=500).caused_by(cause, cause.occurred_at)
    envelope = follow.envelope("pat-1", "site-north")
    assert envelope["causation_id"] == cause.event_id
    assert envelope["correlation_id"] == cause.correlation_id
    assert envelope["event_id"] != cause.event_id
    assert isinstance(envelope["event_id"], uuid.UUID)


def test_checked_in_schemas_and_asyncapi_match_the_models() -> None:
    stale = [
        name
        for name, text in artefacts().items()
        if not (GENERATED / name).exists() or (GENERATED / name).read_text() != text
    ]
    extra = {p.relative_to(GENERATED).as_posix() for p in GENERATED.rglob("*.json")} - set(
        artefacts()
    )
    assert not stale, f"run `make docs`: stale generated files {stale}"
    assert not extra, f"run `make docs`: generated files without a model {extra}"
