"""The booking transaction: load the course, read occupancy, decide, reserve, commit, release.

Like `AggregateStore.apply`, but with the reservation step between deciding and committing:
holds the aggregate's in-process lock, records the triggering event id in the same commit
(idempotent consumer), and undoes its reservations when the commit loses a race. A decision
made from an event retries with fresh occupancy when another instance took a slot first; a
clinician's command surfaces SlotTaken as a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from contracts.envelope import Stamp
from services.runtime.aggregate import ATTEMPTS, AggregateStore, ConcurrentUpdate, lost_race
from services.runtime.mongo import Document
from services.scheduling.course import Course
from services.scheduling.decision import Context, Outcome
from services.scheduling.errors import SlotTaken
from services.scheduling.network import ClinicNetwork, ProviderRole
from services.scheduling.network_store import NetworkStore
from services.scheduling.reservations import Reservations
from services.scheduling.rules import SchedulingRules
from services.scheduling.slots import Occupancy

Decide = Callable[[Course | None, Context], Outcome]
MAX_DAY_READS = 12
COURSE_INDEXES = ("site_id",)


def indexed(course: Course) -> Document:
    """Top-level fields written with the course in the same replace: its site, so a change of
    the site's REMS certification finds the site's courses with one indexed query."""
    return {"site_id": course.site_id}


@dataclass(frozen=True)
class Scope:
    """Which sites' resources and which days the decision may book (occupancy to read)."""

    site_ids: tuple[str, ...]
    first: date
    days: int


def resources(network: ClinicNetwork, site_ids: tuple[str, ...], patient_id: str) -> set[str]:
    found = {f"patient:{patient_id}"}
    for site_id in site_ids:
        site = network.site(site_id)
        if site is None:
            continue
        found |= {f"chair:{c}" for c in site.chairs}
        found |= {f"room:{r.room_id}" for r in site.rooms}
        for role in ProviderRole:
            found |= {f"provider:{p.provider_id}" for p in network.staff(site_id, role)}
    return found


@dataclass
class Booker:
    store: AggregateStore[Course]
    reservations: Reservations
    networks: NetworkStore
    rules: SchedulingRules

    async def run(
        self,
        patient_id: str,
        scope: Callable[[Course | None], Scope],
        decide: Decide,
        stamp: Stamp,
        *,
        event_id: str | None = None,
        retry_taken: bool = False,
        attempts: int = ATTEMPTS,
    ) -> Outcome | None:
        """None when `event_id` was already processed (a redelivery)."""
        async with self.store.locks.hold(patient_id):
            for attempt in range(attempts):
                loaded = await self.store.load(patient_id)
                if event_id is not None and event_id in loaded.processed:
                    return None
                network = await self.networks.load()
                outcome = await self._decide(
                    loaded.state, decide, network, scope(loaded.state), patient_id, stamp
                )
                live = (
                    {a.appointment_id for a in loaded.state.appointments if a.live}
                    if (loaded.state)
                    else set()
                )
                intent = await self.reservations.intend(patient_id, outcome.take, stamp.now)
                try:
                    kept = await self.reservations.take(
                        patient_id, outcome.take, network, stamp.now, live
                    )
                except SlotTaken:
                    await self.reservations.done(intent)
                    if retry_taken:
                        continue
                    raise
                try:
                    await self.store.commit(
                        loaded,
                        outcome.course,
                        outcome.events,
                        [event_id] if event_id else [],
                        indexed(outcome.course),
                    )
                except ConcurrentUpdate:
                    await self.reservations.release([h.appointment_id for h in outcome.take], {})
                    await self.reservations.done(intent)
                    await lost_race(patient_id, attempt)
                    continue
                await self.reservations.release(
                    {*outcome.release, *(h.appointment_id for h in outcome.take)}, kept
                )
                await self.reservations.done(intent)
                return outcome
        raise ConcurrentUpdate(patient_id)

    async def _decide(
        self,
        course: Course | None,
        decide: Decide,
        network: ClinicNetwork,
        wanted: Scope,
        patient_id: str,
        stamp: Stamp,
    ) -> Outcome:
        """Decide against the occupancy of the days the decision places on: start knowing no
        day, read the days the planner wanted but did not know, decide again; after
        MAX_DAY_READS rounds read the whole scope (a near-full calendar)."""
        wanted_resources = resources(network, wanted.site_ids, patient_id)
        known = Occupancy(covers=frozenset())
        for _ in range(MAX_DAY_READS):
            trial = known.copy()
            trial.unknown = set()
            outcome = decide(course, Context(network, trial, stamp, self.rules))
            if not trial.unknown:
                return outcome
            more = await self.reservations.occupancy(wanted_resources, trial.unknown, course)
            known = known.merged(more)
        every_day = [wanted.first + timedelta(days=n) for n in range(-1, wanted.days + 1)]
        occupancy = await self.reservations.occupancy(wanted_resources, every_day, course)
        return decide(course, Context(network, occupancy.merged(known), stamp, self.rules))

    async def sweep_orphans(self, now: datetime) -> int:
        """Release reservations left by bookings that never committed (crash window)."""
        released = 0
        grace = timedelta(minutes=self.rules.orphan_grace_minutes)
        for intent in await self.reservations.stale_intents(now, grace):
            async with self.store.locks.hold(intent["patient_id"]):
                course = (await self.store.load(intent["patient_id"])).state
                released += await self.reservations.reconcile(intent, course)
        return released
