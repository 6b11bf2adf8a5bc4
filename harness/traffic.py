"""Synthetic cross-topic traffic for many patients (ids only, no personal data)."""

from __future__ import annotations

from datetime import timedelta

from aiokafka import AIOKafkaProducer

from contracts import EventBase, Topic
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.vocabulary import AppointmentKind, Protocol
from harness.events import T0, approved, referred, screened, stamp
from services.runtime.settings import Settings


def patient_events(n: int) -> list[tuple[Topic, EventBase]]:
    """Five events over two topics for patient `n`, with distinct ids and times."""
    pid, site = f"pat-load-{n:05d}", ("site-north", "site-south")[n % 2]
    base = 10_000 + n * 10

    def at(minutes: int, producer: str, k: int) -> dict[str, object]:
        return stamp(producer, T0 + timedelta(minutes=minutes), base + k).envelope(pid, site)

    return [
        (Topic.INTAKE, referred(pid, site, stamp("intake", T0, base))),
        (Topic.INTAKE, screened(pid, site, stamp("intake", T0 + timedelta(minutes=1), base + 1))),
        (Topic.INTAKE, approved(pid, site, stamp("intake", T0 + timedelta(minutes=2), base + 2),
                                Protocol.IV_KETAMINE_SERIES)),
        (Topic.SCHEDULING, CourseScheduled(**at(3, "scheduling", 3), course_id=f"crs-{n}",
                                           protocol=Protocol.IV_KETAMINE_SERIES, planned_doses=6)),
        (Topic.SCHEDULING, AppointmentBooked(**at(3, "scheduling", 4), appointment_id=f"apt-{n}",
                                             kind=AppointmentKind.PREPARATION,
                                             starts_at=T0 + timedelta(days=1),
                                             ends_at=T0 + timedelta(days=1, hours=1))),
    ]  # fmt: skip


async def publish_all(settings: Settings, patients: int) -> int:
    """Publish `patient_events` for `patients` patients, keyed by patient; return the count."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    sent = 0
    try:
        for n in range(patients):
            for topic, event in patient_events(n):
                await producer.send(settings.kafka_topic_prefix + topic, event.to_bytes(),
                                    key=event.patient_id.encode())  # fmt: skip
                sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent
