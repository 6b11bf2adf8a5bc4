"""One trace per clinical act, across its Kafka hops: the context rides in the outbox entry and
the Kafka headers, so the consumers of an HTTP command's events join the command's trace, and a
discharge is one trace session -> coaching -> journey. Spans carry no patient id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from contracts import Topic
from contracts.vocabulary import TaskKind
from harness.events import screened, stamp
from harness.running import auth, eventually, produce, running
from services.coaching.main import create_app as coaching_app
from services.journey.main import create_app as journey_app
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.runtime.tracing import carrier
from tests.unit.coaching.builders import discharged

pytestmark = pytest.mark.infra


class Captured(SpanProcessor):
    """An in-memory exporter that records only while a test listens."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.listening = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.listening:
            self.spans.append(span)


CAPTURED = Captured()


@pytest.fixture
def spans() -> Iterator[Captured]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if CAPTURED not in provider._active_span_processor._span_processors:
        provider.add_span_processor(CAPTURED)
    CAPTURED.spans.clear()
    CAPTURED.listening = True
    yield CAPTURED
    CAPTURED.listening = False
    CAPTURED.spans.clear()


def consumed(spans: Sequence[ReadableSpan], trace_id: int, group: str) -> list[str]:
    """Event types the consumer group processed inside the trace."""
    return [
        str((s.attributes or {}).get("kap.event_type"))
        for s in spans
        if s.context is not None
        and s.context.trace_id == trace_id
        and (s.attributes or {}).get("messaging.consumer.group.name") == group
    ]


def route(span: ReadableSpan) -> bool:
    return str((span.attributes or {}).get("http.route")).endswith("/complete")


async def test_one_trace_from_a_discharge_and_from_an_http_command_through_their_consumers(
    settings: Settings, spans: Captured
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    bootstrap, prefix = settings.kafka_bootstrap_servers, settings.kafka_topic_prefix
    coaching_group = f"{settings.deployment}-coaching.{prefix}{Topic.SESSION}"
    journey_group = f"{settings.deployment}-journey.{prefix}{Topic.COACHING}"
    tracer = trace.get_tracer("test")
    async with (
        running(coaching_app(settings.for_service("coaching"))) as coaching,
        running(journey_app(settings.for_service("journey"))),
    ):
        await produce(
            bootstrap, prefix + Topic.INTAKE, screened(pid, s=stamp(seed=72)).to_bytes(), pid
        )
        discharge_event = discharged(1, patient_id=pid).to_bytes()
        with tracer.start_as_current_span("session discharge") as discharge:
            await produce(bootstrap, prefix + Topic.SESSION, discharge_event, pid, **carrier())
        discharge_trace = discharge.get_span_context().trace_id

        async def discharge_reached_journey() -> bool:
            return "FollowUpTaskCreated" in consumed(spans.spans, discharge_trace, journey_group)

        await eventually(discharge_reached_journey, timeout=60)
        assert consumed(spans.spans, discharge_trace, coaching_group) == ["SessionDischarged"]

        coach = auth(settings, Role.COACH, "lead-north", "site-north")
        tasks: list[dict[str, Any]] = (
            await coaching.get("/sites/site-north/tasks", headers=coach)
        ).json()
        task = next(t for t in tasks if t["patient_id"] == pid and t["kind"] == TaskKind.PHQ9)
        mine = auth(settings, Role.COACH, task["coach_id"], "site-north")
        done = await coaching.post(
            f"/patients/{pid}/tasks/{task['task_id']}/complete",
            json={"outcome": {"phq9": [1, 1, 1, 1, 1, 1, 1, 2, 0]}}, headers=mine,
        )  # fmt: skip
        assert done.status_code == 200, done.text
        (request,) = [s for s in spans.spans if s.kind == trace.SpanKind.SERVER and route(s)]
        assert request.context is not None
        command_trace = request.context.trace_id

        async def outcome_reached_journey() -> bool:
            return {"FollowUpTaskCompleted", "OutcomeMeasured"} <= set(
                consumed(spans.spans, command_trace, journey_group)
            )

        await eventually(outcome_reached_journey, timeout=60)

    in_command = [s for s in spans.spans if s.context and s.context.trace_id == command_trace]
    writes = {s.name for s in in_command if s.kind == trace.SpanKind.CLIENT}
    assert f"{settings.deployment}_journey.update" in writes or any(
        name.startswith(f"{settings.deployment}_journey.") for name in writes
    ), "the journey's MongoDB writes belong to the command's trace"
    assert discharge_trace != command_trace
    for span in spans.spans:
        values = [span.name, *(str(v) for v in (span.attributes or {}).values())]
        assert not any(pid in value for value in values), f"patient id in span {span.name}"
