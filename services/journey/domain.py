"""The journey projection: a pure fold over a patient's timeline, sorted by time then event id.

Because the view is recomputed from the deduplicated, sorted timeline, any interleaving of
topics and any redelivery converge to the same document (DESIGN: journey projection).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts import EventBase
from services.journey.evolve import EVOLVE
from services.journey.models import Appointment, Entry, Journey, Task

ENVELOPE = frozenset(EventBase.model_fields) - {"event_type"}
NEVER_PROJECTED = frozenset({"identity"})
"""Identity lives only in intake (DESIGN); the projection drops it on the way in."""


def entry_of(event: EventBase) -> Entry:
    facts = event.model_dump(mode="json", exclude=set(ENVELOPE | NEVER_PROJECTED))
    facts.pop("event_type")
    return Entry(
        event_id=str(event.event_id),
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        site_id=event.site_id,
        producer=event.producer,
        facts=facts,
    )


def phase_of(j: Journey) -> str:
    """The journey phase from what has happened, not from which event came last, so a
    treatment day charted retroactively cannot move a patient backwards (DESIGN phases)."""
    approved = j.decision == "approved"
    if j.decision == "declined":
        return "declined"
    if approved and j.doses_planned and j.discharges >= j.doses_planned:
        return "completed"
    if approved and j.doses_given:
        return j.course_phase or "induction"
    if approved and any(a.kind == "preparation" for a in j.appointments.values()):
        return "preparation"
    if j.decision is not None:
        return "approved" if approved else "screening"
    return "awaiting_review" if j.screened else "referred"


def _unchanged(_j: Journey, _e: Entry) -> None:
    """Events the projection only lists on the timeline."""


def project(patient_id: str, timeline: Iterable[Entry]) -> Journey:
    """Fold the deduplicated timeline, in (occurred_at, event_id) order, into a journey."""
    ordered = sorted({e.event_id: e for e in timeline}.values(), key=lambda e: e.order)
    journey = Journey(patient_id=patient_id, timeline=ordered)
    for entry in ordered:
        journey.site_id = entry.site_id
        EVOLVE.get(entry.event_type, _unchanged)(journey, entry)
    journey.phase = phase_of(journey)
    return journey


def add(journey: Journey | None, patient_id: str, event: EventBase) -> Journey:
    """The journey after `event`; applying the same event twice changes nothing."""
    existing = journey.timeline if journey else []
    return project(patient_id, [*existing, entry_of(event)])


def add_all(journey: Journey | None, patient_id: str, events: Iterable[EventBase]) -> Journey:
    """The journey after several events at once (a replay batch); same result as one by one."""
    existing = journey.timeline if journey else []
    return project(patient_id, [*existing, *(entry_of(e) for e in events)])


def indexed(journey: Journey) -> dict[str, Any]:
    """Top-level fields the query API filters and aggregates on."""
    nxt = journey.next_appointment
    return {
        "site_id": journey.site_id,
        "phase": journey.phase,
        "coach_id": journey.coach_id,
        "next_appointment_at": nxt.starts_at if nxt else None,
        "open_task_due": sorted(t.due_at for t in journey.open_tasks.values()),
    }


__all__ = [
    "Appointment",
    "Entry",
    "Journey",
    "Task",
    "add",
    "add_all",
    "entry_of",
    "indexed",
    "phase_of",
    "project",
]
