"""Session's subscribers and its clock sweep.

The per-patient safety view is built from every service that owns a fact a treatment step
gates on (DESIGN safety invariants): bookings, the course plan, transfers and site
certification from scheduling; referral, interactions, risk flags, consents and eligibility
from intake; risk flags from coaching's follow-up PHQ-9. A fact that arrives after a dose it
would have refused raises that dose (`invariants.decide_unsafe_doses`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts import EventBase, Topic
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    MedicationInteractionFlagged,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CourseExtended,
    CourseScheduled,
    CourseTransferred,
    SiteCertificationChanged,
)
from services.runtime.aggregate import AggregateStore
from services.runtime.consumer import Routes
from services.runtime.service import Service
from services.session import invariants
from services.session.absorb import absorb
from services.session.clocks import decide_clocks
from services.session.record import TreatmentRecord
from services.session.rules import SessionRules

Store = AggregateStore[TreatmentRecord]


def subscriptions(service: Service, store: Store, rules: SessionRules) -> dict[Topic, Routes]:
    """The routing table: which events the session learns from, per topic."""

    async def on_upstream_event(event: EventBase) -> None:
        def learn(state: TreatmentRecord | None) -> tuple[TreatmentRecord, list[EventBase]]:
            return invariants.decide_unsafe_doses(
                absorb(event, state), service.stamp_for(event), rules
            )

        await store.apply(event.patient_id, learn, inbox=[str(event.event_id)])

    return {
        Topic.SCHEDULING: {
            AppointmentBooked: on_upstream_event,
            AppointmentRescheduled: on_upstream_event,
            AppointmentCancelled: on_upstream_event,
            CourseScheduled: on_upstream_event,
            CourseExtended: on_upstream_event,
            CourseTransferred: on_upstream_event,
            SiteCertificationChanged: on_upstream_event,
        },
        Topic.COACHING: {RiskFlagRaised: on_upstream_event},
        Topic.INTAKE: {
            PatientReferred: on_upstream_event,
            MedicationInteractionFlagged: on_upstream_event,
            RiskFlagRaised: on_upstream_event,
            RiskFlagAcknowledged: on_upstream_event,
            ConsentRecorded: on_upstream_event,
            EligibilityDecided: on_upstream_event,
        },
    }


def clock_sweep(store: Store, rules: SessionRules) -> Callable[[datetime], Any]:
    """Fire every monitoring clock due by `now`; `decide_clocks` re-checks each under the
    aggregate lock (safe with several sweepers; see `clocks`)."""

    async def sweep(now: datetime) -> int:
        due = {"clocks_pending": True, "clock_due_at": {"$lte": now}}
        return await store.sweep(due, lambda record: decide_clocks(record, now, rules))

    return sweep
