"""Scheduling's subscribers: an approval plans and books the course; a discharge, a relapse
or an integration request books what follows. Each booking goes through the one write path
(`AggregateStore.apply` with the booking's occupancy-reading decision and reservation hold).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from contracts import EventBase, Topic
from contracts.coaching import IntegrationBookingRequested, RelapseSuspected
from contracts.envelope import Stamp
from contracts.intake import EligibilityDecided
from contracts.session import SessionDischarged
from services.runtime.aggregate import AggregateStore
from services.runtime.consumer import Routes
from services.runtime.logging import get_logger
from services.runtime.service import Service
from services.scheduling import domain
from services.scheduling.booking import Booking, Decide, Scope, sweep_orphans
from services.scheduling.course import Course
from services.scheduling.decision import Outcome
from services.scheduling.network_store import NetworkStore
from services.scheduling.reservations import Reservations
from services.scheduling.rules import SchedulingRules

log = get_logger(__name__)


@dataclass(frozen=True)
class Bookings:
    """What every booking decision needs: the course store, reservations, network, rules."""

    store: AggregateStore[Course]
    reservations: Reservations
    networks: NetworkStore
    rules: SchedulingRules

    def booking(
        self,
        patient_id: str,
        scope: Callable[[Course | None], Scope],
        decide: Decide,
        stamp: Stamp,
        retry_taken: bool = False,
    ) -> Booking:
        return Booking(
            self.reservations, self.networks, self.rules, patient_id, scope, decide, stamp,
            retry_taken,
        )  # fmt: skip

    async def sweep_orphans(self, now: datetime) -> int:
        return await sweep_orphans(self.store, self.reservations, self.rules, now)


def course_scope(site_id: str, first: date, days: int) -> Callable[[Course | None], Scope]:
    def scope(course: Course | None) -> Scope:
        sites = tuple({site_id, *([course.site_id] if course else [])})
        return Scope(sites, first, days)

    return scope


def horizon_days(planned: int | None) -> int:
    """Occupancy to read for a whole course: generous for every protocol's cadence."""
    return min(30 + (planned or 8) * 16, 800)


def log_outcome(outcome: Outcome | None) -> None:
    """Say why nothing was booked: ids, protocol and reason only, never identity data."""
    if outcome is None or outcome.course.blocked_reason is None or not outcome.events:
        return
    course = outcome.course
    log.warning(
        "course_blocked",
        site_id=course.site_id,
        course_id=course.course_id,
        protocol=course.protocol,
        reason=course.blocked_reason,
    )


def subscriptions(service: Service, bookings: Bookings) -> dict[Topic, Routes]:
    """The routing table: which events scheduling reacts to, per topic."""

    async def react(event: EventBase, decide: Decide, days: int = 45) -> Outcome | None:
        stamp = service.stamp_for(event)
        first = max(event.occurred_at, stamp.now).date()
        booking = bookings.booking(
            event.patient_id, course_scope(event.site_id, first, days), decide, stamp, True
        )
        applied = await bookings.store.apply(
            event.patient_id, booking.decide, inbox=[str(event.event_id)], hold=booking.hold
        )
        return None if applied.duplicate else booking.outcome

    async def on_eligibility_decided(event: EligibilityDecided) -> None:
        outcome = await react(
            event,
            lambda c, ctx: domain.decide_eligibility(c, event, ctx),
            horizon_days(event.planned_doses),
        )
        log_outcome(outcome)

    async def on_session_discharged(event: SessionDischarged) -> None:
        await react(event, lambda c, ctx: domain.decide_discharge(c, event, ctx))

    async def on_relapse_suspected(event: RelapseSuspected) -> None:
        await react(event, lambda c, ctx: domain.decide_relapse(c, event, ctx))

    async def on_integration_booking_requested(event: IntegrationBookingRequested) -> None:
        await react(event, lambda c, ctx: domain.decide_integration_request(c, event, ctx), 10)

    return {
        Topic.INTAKE: {EligibilityDecided: on_eligibility_decided},
        Topic.SESSION: {SessionDischarged: on_session_discharged},
        Topic.COACHING: {
            RelapseSuspected: on_relapse_suspected,
            IntegrationBookingRequested: on_integration_booking_requested,
        },
    }
