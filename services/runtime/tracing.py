"""OpenTelemetry tracing: HTTP, MongoDB and Kafka spans; the context travels through the outbox.

An HTTP command's span context is stored with each outbox entry it causes (`carrier`); the
relay publishes the entry inside that context (`resumed`), so FastStream's telemetry
middleware sends it as `traceparent` headers and the consumers' spans join the same trace;
a consumer's own commits carry the context on, so one discharge is one trace
session -> coaching -> journey.

Export is off unless the standard variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp|console`
(`OTEL_SDK_DISABLED=true` wins). The exporter itself reads the other `OTEL_*` variables
(headers, protocol, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).

No PHI in spans: route templates, not paths, name HTTP spans and the path attributes are
replaced by the template; MongoDB statements are not captured; Kafka message keys (patient
ids) are dropped from messaging attributes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka.opentelemetry.provider import (
    BatchKafkaTelemetrySettingsProvider,
    KafkaTelemetrySettingsProvider,
)
from faststream.kafka.response import KafkaPublishCommand
from faststream.message import StreamMessage
from faststream.opentelemetry.middleware import TelemetryMiddleware
from opentelemetry import context, trace
from opentelemetry.semconv.trace import SpanAttributes
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
PATH_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")
_configured: list[str] = []


def export_requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL_* variables ask for spans to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporter:
        return exporter not in {"none", ""}
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Install a tracer provider exporting over OTLP (or to the console) when asked to;
    once per process. Returns whether spans are exported."""
    if not export_requested(env):
        return False
    if _configured:
        return True
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or f"kap-{service}"})
    provider = TracerProvider(resource=resource)
    exporter: SpanExporter
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured.append(service)
    return True


def carrier() -> dict[str, str]:
    """The current span context as W3C trace-context headers (empty when not tracing)."""
    headers: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        PROPAGATOR.inject(headers)
    return headers


@contextmanager
def resumed(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block inside the span context stored in `headers` (no-op without one)."""
    if not headers:
        yield
        return
    token = context.attach(PROPAGATOR.extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)


def record_carrier(record: Any) -> dict[str, str]:
    """The trace-context headers of a consumed Kafka record (empty when it has none)."""
    wanted = {"traceparent", "tracestate"}
    return {k: v.decode() for k, v in (getattr(record, "headers", None) or ()) if k in wanted}


@contextmanager
def consuming(record: Any, group: str, event_type: str) -> Iterator[None]:
    """A consumer span for one record of a batch, in the trace the record carries, so a
    batched consumer still joins each clinical act's trace (group and event type as
    attributes, as the one-at-a-time consumer sets them)."""
    with resumed(record_carrier(record)):
        span = trace.get_tracer("kap.batch").start_span(
            f"{getattr(record, 'topic', '')} process", kind=trace.SpanKind.CONSUMER
        )
        span.set_attribute("messaging.consumer.group.name", group)
        span.set_attribute("kap.event_type", event_type)
        with trace.use_span(span, end_on_exit=True):
            yield


def _without_key(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs.pop(SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY, None)
    return attrs


class PseudonymousKafkaAttributes(KafkaTelemetrySettingsProvider):
    """FastStream's Kafka span attributes without the message key (the patient id)."""

    def get_consume_attrs_from_message(self, msg: StreamMessage[Any]) -> dict[str, Any]:
        return _without_key(super().get_consume_attrs_from_message(msg))

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        return _without_key(super().get_publish_attrs_from_cmd(cmd))


class PseudonymousBatchKafkaAttributes(BatchKafkaTelemetrySettingsProvider):
    """FastStream's attributes of a consumed batch (`services.runtime.batch`), keyless."""

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        return _without_key(super().get_publish_attrs_from_cmd(cmd))


def _attributes_provider(
    msg: Any,
) -> PseudonymousKafkaAttributes | PseudonymousBatchKafkaAttributes:
    if isinstance(msg, (tuple, list)):
        return PseudonymousBatchKafkaAttributes()
    return PseudonymousKafkaAttributes()


def kafka_middleware() -> TelemetryMiddleware[KafkaPublishCommand]:
    """FastStream's Kafka telemetry middleware (as `KafkaTelemetryMiddleware`), keyless."""
    return TelemetryMiddleware[KafkaPublishCommand](
        settings_provider_factory=_attributes_provider, include_messages_counters=False
    )


def _redact_path(span: trace.Span, scope: dict[str, Any]) -> None:
    """Raw paths carry patient ids; keep the route template (`http.route`) instead."""
    if not span.is_recording():
        return
    present = getattr(span, "attributes", None) or {}
    for name in PATH_ATTRIBUTES:
        if name in present:
            span.set_attribute(name, "[redacted]")


def instrument_http(http: FastAPI) -> None:
    """FastAPI instrumentation; spans go wherever the tracer provider sends them."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        http,
        server_request_hook=_redact_path,
        excluded_urls="/healthz,/readyz,/metrics",
        exclude_spans=["receive", "send"],
    )


def instrument_pymongo() -> None:
    """PyMongo's command listener, registered once per process before clients are created
    (clients pick up global listeners when constructed). Statements are never captured."""
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    pymongo = PymongoInstrumentor()
    if not pymongo.is_instrumented_by_opentelemetry:
        pymongo.instrument(capture_statement=False)
