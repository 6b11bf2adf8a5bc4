"""A booking through the one write path (`AggregateStore.apply`): its decision reads the
network and the occupancy of the days it places on; its hold reserves the slots before the
course commits and undoes them when the commit loses a race, then releases what the decision
freed. A decision made from an event retries with fresh occupancy when another instance took a
slot first (`Retry`); a clinician's command surfaces SlotTaken as a 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts import EventBase
from contracts.envelope import Stamp
from services.runtime.aggregate import AggregateStore, ConcurrentUpdate, Retry
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
class Booking:
    """One booking decision and its reservations, for one attempt of `apply` at a time."""

    reservations: Reservations
    networks: NetworkStore
    rules: SchedulingRules
    patient_id: str
    scope: Callable[[Course | None], Scope]
    decision: Decide
    stamp: Stamp
    retry_taken: bool = False
    outcome: Outcome | None = None
    network: ClinicNetwork | None = field(default=None, repr=False)
    live: set[str] = field(default_factory=set)

    async def decide(self, course: Course | None) -> tuple[Course, Sequence[EventBase]]:
        self.network = await self.networks.load()
        self.live = {a.appointment_id for a in course.appointments if a.live} if course else set()
        self.outcome = await self._decide(
            course, self.decision, self.network, self.scope(course), self.patient_id, self.stamp
        )
        return self.outcome.course, self.outcome.events

    @asynccontextmanager
    async def hold(self, _course: Course, _events: Sequence[EventBase]) -> AsyncIterator[None]:
        """Reserve the decided slots for the commit; undo what this attempt inserted when the
        commit certainly did not happen (a lost compare-and-set). Any other failure may have
        hit a commit that landed (a database restart mid-write): the reservations and the
        intent stay for the orphan sweep, which keeps them if the course holds the appointment
        and frees them otherwise, so a slot is never freed under a booking that exists."""
        assert self.outcome is not None
        assert self.network is not None
        outcome, now = self.outcome, self.stamp.now
        intent = await self.reservations.intend(self.patient_id, outcome.take, now)
        replaced: list[Document] = []
        inserted: list[str] = []
        try:
            kept = await self.reservations.take(
                self.patient_id, outcome.take, self.network, now, self.live, replaced, inserted
            )
        except SlotTaken as taken:
            await self.reservations.done(intent)
            if self.retry_taken:
                raise Retry(self.patient_id) from taken
            raise
        try:
            yield
        except ConcurrentUpdate:
            # Only the seats this attempt inserted: the winner's decision books the same
            # appointment ids, and its seats, found here already held, are not ours to free.
            await self.reservations.drop(inserted)
            await self.reservations.restore(replaced)
            await self.reservations.done(intent)
            raise
        await self.reservations.release(
            {*outcome.release, *(h.appointment_id for h in outcome.take)}, kept
        )
        await self.reservations.done(intent)

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


async def sweep_orphans(
    store: AggregateStore[Course], reservations: Reservations, rules: SchedulingRules, now: datetime
) -> int:
    """Release reservations left by bookings that never committed (crash window)."""
    released = 0
    grace = timedelta(minutes=rules.orphan_grace_minutes)
    for intent in await reservations.stale_intents(now, grace):
        async with store.locks.hold(intent["patient_id"]):
            course = (await store.load(intent["patient_id"])).state
            released += await reservations.reconcile(intent, course)
    return released
