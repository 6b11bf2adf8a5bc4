"""Garbage on every topic, on the real broker: each kind goes where the consumers decided (a
dead letter with provenance headers, or ignored on purpose and counted), and the good
message behind it in the same partition is processed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from contracts import EventBase, Topic, dlq
from contracts.coaching import CoachAssigned
from contracts.scheduling import CourseScheduled
from contracts.session import PatientCheckedIn
from contracts.vocabulary import Protocol
from harness.events import referred, stamp
from harness.running import eventually, produce, quiet, read_topic, running
from services.journey.main import create_app as journey_app
from services.runtime.consumer import IGNORED
from services.runtime.settings import Settings

pytestmark = pytest.mark.infra

Json = dict[str, Any]


def good(topic: Topic, patient_id: str, seed: int) -> EventBase:
    """A well-formed event of the topic's producer."""
    site = "site-north"
    if topic is Topic.INTAKE:
        return referred(patient_id, s=stamp(seed=seed))
    if topic is Topic.SCHEDULING:
        return CourseScheduled(**stamp("scheduling", seed=seed).envelope(patient_id, site),
                               course_id=f"crs-{patient_id}", protocol=Protocol.ESKETAMINE_TRD,
                               planned_doses=2)  # fmt: skip
    if topic is Topic.SESSION:
        return PatientCheckedIn(**stamp("session", seed=seed).envelope(patient_id, site),
                                session_id=f"ses-{patient_id}", appointment_id=f"apt-{patient_id}",
                                protocol=Protocol.ESKETAMINE_TRD)  # fmt: skip
    return CoachAssigned(**stamp("coaching", seed=seed).envelope(patient_id, site), coach_id="c-1")


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def without(event: Json, name: str) -> Json:
    return {k: v for k, v in event.items() if k != name}


IGNORED_ON_PURPOSE = None
GARBAGE: tuple[tuple[str, Callable[[Json], bytes], tuple[str, str] | None], ...] = (
    ("not JSON", lambda e: b"{not json", ("JSONDecodeError", "JSONDecodeError")),
    ("JSON, not an object", lambda e: dumps([e]),
     ("OffContractMessage", "OffContractMessage: message body is not a JSON object")),
    ("object without event_type", lambda e: dumps(without(e, "event_type")),
     ("OffContractMessage", "OffContractMessage: event_type missing or malformed")),
    ("unknown event_type", lambda e: dumps({**e, "event_type": "PatientTeleported"}),
     IGNORED_ON_PURPOSE),
    ("newer major schema_version", lambda e: dumps({**e, "schema_version": "2.0"}),
     ("ValidationError", "schema_version: schema_major_unsupported")),
    ("integer occurred_at", lambda e: dumps({**e, "occurred_at": 1700000000}),
     ("ValidationError", "occurred_at: iso8601_instant_required")),
    ("missing patient_id", lambda e: dumps(without(e, "patient_id")),
     ("ValidationError", "patient_id: missing")),
    ("wrong field types", lambda e: dumps({**e, "event_id": 12345, "correlation_id": "x"}),
     ("ValidationError", "event_id: uuid_type; correlation_id: uuid_parsing")),
)  # fmt: skip
"""Each kind of garbage and where it must go: (dlq.error_class, dlq.error), or ignored."""


async def send(settings: Settings, topic: Topic, patient_id: str) -> tuple[list[bytes], EventBase]:
    """Every kind of garbage, then a good event, all keyed by one patient: one partition, in
    this order. Each garbage message is built from its own event (own id), so one that was
    wrongly projected shows up in the journey's inbox."""
    sent = [
        make(good(topic, patient_id, seed=100 + n).model_dump(mode="json"))
        for n, (_, make, _) in enumerate(GARBAGE)
    ]
    last = good(topic, patient_id, seed=999)
    name = settings.kafka_topic_prefix + topic
    for value in [*sent, last.to_bytes()]:
        await produce(settings.kafka_bootstrap_servers, name, value, patient_id)
    return sent, last


async def processed(mongo: Any, settings: Settings, patient_id: str) -> list[str] | None:
    doc = await mongo[f"{settings.deployment}_journey"]["journeys"].find_one({"_id": patient_id})
    return doc["processed"] if doc else None


async def test_garbage_on_every_topic_goes_where_decided_and_the_next_good_message_flows(
    settings: Settings, mongo: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    patients = {topic: f"pat-{run}-{topic.name.lower()}" for topic in Topic}
    names = {topic: settings.kafka_topic_prefix + topic for topic in Topic}
    groups = {topic: f"{settings.deployment}-journey.{names[topic]}" for topic in Topic}
    before = {topic: IGNORED[(groups[topic], "unknown_event_type")] for topic in Topic}
    async with running(journey_app(settings.for_service("journey"))):
        sending = (send(settings, topic, patients[topic]) for topic in Topic)
        sent = dict(zip(Topic, await asyncio.gather(*sending), strict=True))
        for topic, patient_id in patients.items():
            inbox = await eventually(partial(processed, mongo, settings, patient_id), 30)
            assert inbox == [str(sent[topic][1].event_id)], f"{topic}: only the good event"
        await eventually(lambda: quiet(settings), timeout=20)

    expected = [(n, where) for n, (_, _, where) in enumerate(GARBAGE) if where]
    for topic in Topic:
        assert IGNORED[(groups[topic], "unknown_event_type")] == before[topic] + 1, topic
        dead = await read_topic(settings.kafka_bootstrap_servers, dlq(names[topic]),
                                patients[topic], want=len(expected), timeout=15)  # fmt: skip
        got = [(h["dlq.error_class"], h["dlq.error"]) for h, _ in dead]
        assert got == [where for _, where in expected], topic
        assert [v for _, v in dead] == [sent[topic][0][n] for n, _ in expected], "bytes kept"
        headers = [h for h, _ in dead]
        assert {h["dlq.original_topic"] for h in headers} == {names[topic]}
        assert {h["dlq.consumer_group"] for h in headers} == {groups[topic]}
        assert {h["dlq.attempts"] for h in headers} == {"1"}, "refused at once, not retried"
        assert len({h["dlq.original_partition"] for h in headers}) == 1
        offsets = [int(h["dlq.original_offset"]) for h in headers]
        assert [o - offsets[0] for o in offsets] == [n for n, _ in expected], (
            "every kind but the unknown type (ignored) is dead-lettered, in order"
        )
