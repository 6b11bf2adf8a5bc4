"""Telemetry without servers: readiness names what is down, export is off unless the OTEL_*
variables ask, the trace context round-trips through an outbox entry, and metric labels carry
route templates, never ids."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import generate_latest

from services.runtime import consumer
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.tracing import carrier, export_requested, resumed
from tests.support.memory import MemoryDatabase


class DownDatabase(MemoryDatabase):
    async def command(self, name: str) -> dict[str, Any]:
        raise ConnectionError("database unreachable")


def offline_service(db: MemoryDatabase) -> Service:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", deployment="unit")
    return Service.create(
        "intake",
        settings.for_service("intake"),
        title="t",
        description="d",
        db=db,  # type: ignore[arg-type]
    )


async def get(service: Service, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return await http.get(path)


async def test_readyz_names_every_dependency_that_is_down() -> None:
    answer = await get(offline_service(DownDatabase()), "/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["ready"] is False
    assert body["down"] == ["mongodb", "kafka"]
    assert body["errors"]["mongodb"] == "ConnectionError"
    assert body["checks"] == {"mongodb": False, "kafka": False}


async def test_readyz_names_only_kafka_when_the_database_answers() -> None:
    body = (await get(offline_service(MemoryDatabase()), "/readyz")).json()
    assert (body["down"], body["checks"]["mongodb"]) == (["kafka"], True)


async def test_http_metrics_label_route_templates_not_ids() -> None:
    service = offline_service(MemoryDatabase())

    @service.http.get("/patients/{patient_id}/things")
    async def things(patient_id: str) -> dict[str, str]:
        return {"ok": patient_id}

    await get(service, "/patients/pat-secret-1/things")
    await get(service, "/nowhere/pat-secret-2")
    text = (await get(service, "/metrics")).text
    assert 'route="/patients/{patient_id}/things",status="200"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "pat-secret" not in text


def test_ignored_messages_are_exposed_for_the_services_own_groups_only() -> None:
    service = offline_service(MemoryDatabase())
    mine, other = (
        ("unit-intake.kap.session.events", "not_subscribed"),
        (
            "unit-intakeother.kap.session.events",
            "not_subscribed",
        ),
    )
    consumer.IGNORED.update({mine: 2, other: 5})
    try:
        text = generate_latest(service.metrics.registry).decode()
    finally:
        for key in (mine, other):
            del consumer.IGNORED[key]
    lines = [line for line in text.splitlines() if line.startswith("kap_messages_ignored_total")]
    assert lines == [
        'kap_messages_ignored_total{group="unit-intake.kap.session.events",'
        'reason="not_subscribed"} 2.0'
    ]


def test_spans_are_exported_only_when_the_standard_variables_ask() -> None:
    assert not export_requested({})
    assert export_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert export_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert export_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not export_requested(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    )
    assert not export_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


def test_the_trace_context_round_trips_through_an_outbox_entry() -> None:
    assert carrier() == {}, "nothing is stored when not tracing"
    tracer = TracerProvider().get_tracer("unit")
    with tracer.start_as_current_span("command") as command:
        stored = carrier()
    assert set(stored) == {"traceparent"}
    with resumed(stored):
        resumed_context = trace.get_current_span().get_span_context()
    assert resumed_context.trace_id == command.get_span_context().trace_id
    assert resumed_context.span_id == command.get_span_context().span_id
