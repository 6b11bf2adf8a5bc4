"""Synthetic cross-topic traffic for many patients (ids only, no personal data)."""

from __future__ import annotations

from datetime import timedelta

from contracts import EventBase, Topic
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.vocabulary import AppointmentKind, Protocol
from tests.support.events import T0, approved, referred, screened, stamp


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
