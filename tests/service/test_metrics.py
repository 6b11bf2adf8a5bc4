"""`/metrics` after traffic: every family the ops dashboard and alerts read, with plausible
values, and no patient id in any label."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import Topic, dlq
from harness.events import screened, stamp
from harness.running import auth, eventually, produce, read_topic, running
from services.coaching.main import create_app
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.unit.coaching.builders import discharged

pytestmark = pytest.mark.infra

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


async def test_metrics_after_traffic_show_every_family_with_plausible_values(
    settings: Settings,
) -> None:
    pid = f"pat-{uuid.uuid4().hex[:12]}"
    configured = settings.model_copy(update={"sweep_interval_s": 0.2}).for_service("coaching")
    intake = settings.kafka_topic_prefix + Topic.INTAKE
    session = settings.kafka_topic_prefix + Topic.SESSION
    group = f"{settings.deployment}-coaching.{session}"
    bootstrap = settings.kafka_bootstrap_servers
    async with running(create_app(configured)) as http:
        await produce(bootstrap, intake, screened(pid, s=stamp(seed=71)).to_bytes(), pid)
        for _ in range(2):  # redelivered: one effect, one duplicate skipped
            await produce(bootstrap, session, discharged(1, patient_id=pid).to_bytes(), pid)
        await produce(bootstrap, session, b"not json", pid)
        await produce(bootstrap, session, b'{"event_type": "SomethingNew"}', pid)
        await read_topic(bootstrap, dlq(session), pid, want=1, timeout=60)
        lead = auth(settings, Role.COACH, "lead-north", "site-north")

        async def scraped() -> Samples | None:
            await http.get("/sites/site-north/tasks", headers=lead)
            await http.get(f"/patients/{pid}/tasks/none/complete")  # 405: no GET route
            answer = await http.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            samples = parse(answer.text)
            settled = (
                total(samples, "kap_messages_consumed_total", group=group) >= 4
                and total(samples, "kap_outbox_relayed_total") >= 4
                and total(samples, "kap_sweeper_runs_total") >= 1
                and total(samples, "kap_consumer_lag", group=group) == 0
            )
            return samples if settled else None

        samples = await eventually(scraped, timeout=60, interval=0.5)
        text = (await http.get("/metrics")).text

    assert total(samples, "kap_messages_consumed_total", group=group, outcome="handled") == 2
    assert total(samples, "kap_messages_consumed_total", group=group, outcome="ignored") == 1
    assert total(samples, "kap_messages_consumed_total", group=group, outcome="dead_lettered") == 1
    assert total(samples, "kap_dead_letters_written_total", topic=session) == 1
    assert total(samples, "kap_messages_failed_total", error_class="JSONDecodeError") == 1
    assert total(samples, "kap_messages_ignored_total", reason="unknown_event_type") == 1
    assert total(samples, "kap_idempotent_duplicates_skipped_total") == 1
    assert total(samples, "kap_handler_duration_seconds_count", topic=session) == 2
    assert total(samples, "kap_outbox_pending_aggregates") == 0
    assert 0 <= total(samples, "kap_outbox_oldest_age_seconds") < 60
    assert total(samples, "kap_sweeper_runs_total", outcome="ok") >= 1
    assert "kap_sweeper_due_items_total" in samples
    assert total(samples, "kap_consumer_lag", topic=intake) == 0
    tasks = "/sites/{site_id}/tasks"
    assert total(samples, "kap_http_requests_total", route=tasks, status="200") >= 1
    assert total(samples, "kap_http_request_duration_seconds_count", route=tasks) >= 1
    assert total(samples, "faststream_received_messages_total", app_name="coaching") >= 5
    assert "faststream_published_messages_total" in samples
    assert pid not in text, "labels carry routes, topics and groups, never patient ids"
