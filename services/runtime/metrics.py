"""Prometheus metrics of one service, served at `/metrics`.

Each service has its own registry (several services may share a process in tests) holding:
FastStream's Kafka middleware families (`faststream_*`), HTTP RED metrics by route template,
and the runtime's own families (`kap_*`). Labels are topics, consumer groups, route templates,
event types, error classes and collection names: never a patient id or any payload value.
Gauges that need a query (outbox backlog, consumer lag) are refreshed when scraped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from services.runtime import aggregate, consumer

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IgnoredCollector(Collector):
    """Exposes the consumer's `IGNORED` counter for this service's consumer groups."""

    def __init__(self, group_prefix: str) -> None:
        self.group_prefix = group_prefix

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "kap_messages_ignored",
            "Messages acknowledged without effect (unknown type, or a type the group does "
            "not handle), by consumer group and reason.",
            labels=["group", "reason"],
        )
        for (group, reason), count in sorted(consumer.IGNORED.items()):
            if group.startswith(self.group_prefix):
                family.add_metric([group, reason], count)
        yield family


class DuplicatesCollector(Collector):
    """Exposes the aggregate stores' `DUPLICATES` counter for this service's database."""

    def __init__(self, database: str) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "kap_idempotent_duplicates_skipped",
            "Events found in an aggregate's inbox and acknowledged without a second effect.",
            labels=["collection"],
        )
        for (database, collection), count in sorted(aggregate.DUPLICATES.items()):
            if database == self.database:
                family.add_metric([collection], count)
        yield family


class Metrics:
    """The metric families of one service."""

    def __init__(self, service: str, group: str, database: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        self.faststream = KafkaPrometheusMiddleware(registry=r, app_name=service)
        self.http_requests = Counter(
            "kap_http_requests", "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "kap_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.consumed = Counter(
            "kap_messages_consumed",
            "Messages consumed, by topic, consumer group and outcome "
            "(handled, duplicate, ignored, dead_lettered).",
            ["topic", "group", "outcome"], registry=r,
        )  # fmt: skip
        self.failed = Counter(
            "kap_messages_failed",
            "Handler attempts that raised, by topic, consumer group and error class "
            "(retried, dead-lettered or, for infrastructure errors, redelivered).",
            ["topic", "group", "error_class"], registry=r,
        )  # fmt: skip
        self.handler_duration = Histogram(
            "kap_handler_duration_seconds", "Time in a subscriber, by topic and consumer group.",
            ["topic", "group"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "kap_dead_letters_written", "Messages written to `<topic>.dlq`, by original topic, "
            "consumer group and error class.", ["topic", "group", "error_class"], registry=r,
        )  # fmt: skip
        self.outbox_pending = Gauge(
            "kap_outbox_pending_aggregates",
            "Aggregates whose outbox holds events not yet relayed to Kafka.",
            ["collection"], registry=r,
        )  # fmt: skip
        self.outbox_age = Gauge(
            "kap_outbox_oldest_age_seconds",
            "Age of the oldest outbox entry not yet relayed (0 when the outbox is empty).",
            ["collection"], registry=r,
        )  # fmt: skip
        self.outbox_relayed = Counter(
            "kap_outbox_relayed", "Outbox entries published to Kafka.", registry=r
        )
        self.sweeps = Counter(
            "kap_sweeper_runs", "Sweeper runs by sweeper and outcome (ok, failed).",
            ["sweeper", "outcome"], registry=r,
        )  # fmt: skip
        self.swept = Counter(
            "kap_sweeper_due_items", "Items a sweeper found due and fired.", ["sweeper"],
            registry=r,
        )  # fmt: skip
        self.lag = Gauge(
            "kap_consumer_lag", "Messages on a topic the consumer group has not committed yet.",
            ["topic", "group"], registry=r,
        )  # fmt: skip
        r.register(IgnoredCollector(f"{group}."))
        r.register(DuplicatesCollector(database))
        self.refreshers: list[Callable[[], Awaitable[None]]] = []

    async def refresh(self) -> None:
        """Update the gauges that need a query; one failing probe does not hide the rest."""
        for refresh in self.refreshers:
            with contextlib.suppress(Exception):  # a scrape answers with what it could read
                await refresh()


class HttpMetrics:
    """Pure ASGI middleware counting requests and timing them by route template (RED).

    The route template (`/patients/{patient_id}/journey`) is read after routing, so ids never
    become label values; an unmatched path counts as `<unmatched>`.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            if route != "/metrics":
                method = scope.get("method", "")
                self.metrics.http_requests.labels(method, route, str(status[0])).inc()
                self.metrics.http_duration.labels(method, route).observe(
                    time.perf_counter() - started
                )
