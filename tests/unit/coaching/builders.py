"""Events, stamps and answers for coaching tests: fixed ids and times, so results repeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import TypeVar
from uuid import UUID

from contracts.envelope import EventBase, Stamp
from contracts.intake import ScreeningScored
from contracts.session import SessionDischarged
from contracts.vocabulary import CoursePhase, CssrsRisk, Gad7Band, Phq9Band, Protocol
from services.coaching.domain import Outcome

DISCHARGED_AT = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
E = TypeVar("E", bound=EventBase)


def stamp(now: datetime) -> Stamp:
    ids = (UUID(int=n) for n in count(1))
    return Stamp(now, "coaching", UUID(int=999), lambda: next(ids))


def discharged(
    n: int = 1,
    phase: CoursePhase = CoursePhase.INDUCTION,
    at: datetime = DISCHARGED_AT,
    patient_id: str = "pat-1",
    dosed_at: datetime | None = None,
) -> SessionDischarged:
    """The n-th discharge (event id and session follow n), dosed at `dosed_at` if given."""
    return SessionDischarged(
        event_id=UUID(int=1000 + n),
        occurred_at=at,
        patient_id=patient_id,
        site_id="site-north",
        correlation_id=UUID(int=2000 + n),
        producer="session",
        session_id=f"ses-{n}",
        appointment_id=f"apt-{n}",
        protocol=Protocol.ESKETAMINE_TRD,
        dose_number=n,
        course_phase=phase,
        monitoring_minutes=120,
        dosed_at=dosed_at,
    )


def screened(phq9_total: int, patient_id: str = "pat-1") -> ScreeningScored:
    return ScreeningScored(
        event_id=UUID(int=3000),
        occurred_at=DISCHARGED_AT - timedelta(days=30),
        patient_id=patient_id,
        site_id="site-north",
        correlation_id=UUID(int=4000),
        producer="intake",
        phq9_total=phq9_total,
        phq9_band=Phq9Band.MODERATE,
        phq9_item9=0,
        gad7_total=8,
        gad7_band=Gad7Band.MILD,
        cssrs_risk=CssrsRisk.LOW,
        adequate_failed_trials=2,
    )


def of(events: list[EventBase], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def phq9(total: int, item9: int = 0) -> Outcome:
    """Nine PHQ-9 answers summing to `total`, with item 9 as given."""
    answers, rest = [], total - item9
    for _ in range(8):
        answers.append(min(3, rest))
        rest -= answers[-1]
    assert rest == 0, "total out of reach"
    return Outcome(phq9=(*answers, item9))
