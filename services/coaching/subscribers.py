"""Coaching's subscribers, escalation sweep and reassignment, over its two aggregates
(patients' coaching records, coach availability per site); every write goes through
`AggregateStore.apply` (the outbox publishes). HTTP routes are in `routes.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from contracts import Stamp, Topic
from contracts.coaching import CoachAssigned
from contracts.intake import ScreeningScored
from contracts.session import SessionDischarged
from services.coaching import domain, escalation
from services.coaching.domain import CoachingRecord
from services.coaching.roster import (
    Availability,
    CoachAvailability,
    CoachPool,
    Roster,
    availability_key,
    decide_availability,
)
from services.coaching.rules import CoachingRules
from services.coaching.store import coach_loads, patients_of, unavailable_coaches
from services.runtime.aggregate import AggregateStore
from services.runtime.consumer import Routes
from services.runtime.logging import get_logger
from services.runtime.network import Network
from services.runtime.service import Service

log = get_logger(__name__)


@dataclass
class Coaching:
    """Coaching's entry points over its two aggregates: patients' coaching records and coach
    availability per site."""

    service: Service
    records: AggregateStore[CoachingRecord]
    availability: AggregateStore[CoachAvailability]
    rules: CoachingRules
    network: Network
    roster: Roster

    def site_lead(self, site_id: str) -> str | None:
        site = self.network.site(site_id)
        return site.site_lead if site else None

    async def pool(self, site_id: str, now: datetime) -> CoachPool:
        """The site's coaches as assignment sees them at `now`."""
        site = self.network.site(site_id)
        coaches = site.coaches if site else ()
        away = await unavailable_coaches(self.availability.collection, site_id, now)
        unavailable = {c: a.status for c, a in away.items()}
        present = [c for c in coaches if c not in unavailable]
        return CoachPool(
            loads=await coach_loads(self.records.collection, present),
            unavailable=unavailable,
            capacity={c: self.roster.capacity(c) for c in coaches},
            site_lead=site.site_lead if site else None,
            default_capacity=self.roster.default_capacity,
        )

    async def on_screening_scored(self, event: ScreeningScored) -> None:
        await self.records.apply(
            event.patient_id,
            lambda r: domain.decide_screening(r, event),
            inbox=[str(event.event_id)],
        )

    async def on_session_discharged(self, event: SessionDischarged) -> None:
        stamp = self.service.stamp_for(event)
        pool = await self.pool(event.site_id, stamp.now)
        applied = await self.records.apply(
            event.patient_id,
            lambda r: domain.decide_discharge(r, event, pool, self.rules, stamp),
            inbox=[str(event.event_id)],
        )
        log.info(
            "follow_up_planned",
            patient_id=event.patient_id,
            duplicate=applied.duplicate,
            events=[e.event_type for e in applied.events],
        )

    async def sweep_overdue(self, now: datetime) -> int:
        """Fire overdue and escalation events for every patient the index says is due; each
        decision re-checks under the aggregate lock (safe with two instances; see
        `services.runtime.sweeper`)."""
        sweep_stamp = Stamp(now, self.service.name, uuid4(), uuid4)
        return await self.records.sweep(
            {"next_sweep_at": {"$lt": now}},
            lambda r: escalation.decide_sweep(
                r, now, self.rules, self.site_lead(r.site_id), sweep_stamp
            ),
        )

    async def set_availability(
        self, site_id: str, coach_id: str, status: Availability, until: datetime | None
    ) -> tuple[CoachAvailability, list[tuple[str, CoachAssigned]]]:
        """Record the coach's availability, then move each of their patients at the site (with
        open tasks) to the least-loaded available coach. Re-running it finishes an interrupted
        move: patients already moved are skipped under their lock."""
        stamp = self.service.stamp()
        applied = await self.availability.apply(
            availability_key(site_id, coach_id),
            lambda a: decide_availability(a, site_id, coach_id, status, until, stamp.now),
        )
        assert applied.state is not None
        moved: list[tuple[str, CoachAssigned]] = []
        if applied.state.unavailable_at(stamp.now) is None:
            return applied.state, moved
        pool = await self.pool(site_id, stamp.now)
        for patient_id in await patients_of(self.records.collection, site_id, coach_id):
            done = await self.records.apply(
                patient_id,
                lambda r: domain.decide_reassignment(r, coach_id, pool, stamp),
            )
            for event in done.events:
                if isinstance(event, CoachAssigned):
                    pool.took(event.coach_id)
                    moved.append((patient_id, event))
        log.info("coach_unavailable", site_id=site_id, status=status.value, moved=len(moved))
        return applied.state, moved


def subscriptions(coaching: Coaching) -> dict[Topic, Routes]:
    """The routing table: which events coaching consumes, per topic."""
    return {
        Topic.INTAKE: {ScreeningScored: coaching.on_screening_scored},
        Topic.SESSION: {SessionDischarged: coaching.on_session_discharged},
    }
