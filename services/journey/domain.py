"""The journey projection: a pure fold over a patient's timeline, sorted by time then event id.

Because the view is recomputed from the deduplicated, sorted timeline, any interleaving of
topics and any redelivery converge to the same document (DESIGN: journey projection).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from contracts import EVENT_TYPES, EventBase
from services.journey.evolve import evolve, projects
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


def event_of(patient_id: str, entry: Entry) -> EventBase | None:
    """The typed event a timeline entry was made from, for the types `evolve` projects (the
    entry keeps the payload; the envelope fields the fold never reads get neutral values)."""
    cls = EVENT_TYPES.get(entry.event_type)
    if cls is None or not projects(cls):
        return None
    envelope = {"event_id": entry.event_id, "occurred_at": entry.occurred_at,
                "patient_id": patient_id, "site_id": entry.site_id, "producer": entry.producer,
                "correlation_id": UUID(int=0)}  # fmt: skip
    return cls.model_validate({**entry.facts, **envelope})


def _fold(journey: Journey, entries: Iterable[tuple[Entry, EventBase | None]]) -> Journey:
    for entry, event in entries:
        journey.site_id = entry.site_id
        if event is not None:
            evolve(event, journey)
    journey.phase = phase_of(journey)
    return journey


def project(
    patient_id: str, timeline: Iterable[Entry], known: dict[str, EventBase] | None = None
) -> Journey:
    """Fold the deduplicated timeline, in (occurred_at, event_id) order, into a journey.
    `known` gives typed events already at hand (by event id), so only older entries are
    re-read from the timeline."""
    known = known or {}
    ordered = sorted({e.event_id: e for e in timeline}.values(), key=lambda e: e.order)
    pairs = [(e, known[e.event_id] if e.event_id in known else event_of(patient_id, e))
             for e in ordered]  # fmt: skip
    return _fold(Journey(patient_id=patient_id, timeline=ordered), pairs)


def add(journey: Journey | None, patient_id: str, event: EventBase) -> Journey:
    """The journey after `event`; applying the same event twice changes nothing."""
    return add_all(journey, patient_id, [event])


def add_all(journey: Journey | None, patient_id: str, events: Iterable[EventBase]) -> Journey:
    """The journey after several events at once (a batch); same result as one by one.

    Events later than everything on the timeline (the usual case) are folded onto the stored
    journey, so the cost of an event does not grow with the timeline; an event that sorts
    before the last one refolds the whole timeline, which gives the same result."""
    existing = journey.timeline if journey else []
    seen = {e.event_id for e in existing}
    fresh = {str(e.event_id): e for e in events if str(e.event_id) not in seen}
    entries = sorted((entry_of(e) for e in fresh.values()), key=lambda e: e.order)
    if journey is not None and not entries:
        return journey
    if journey is None or not existing or entries[0].order <= existing[-1].order:
        return project(patient_id, [*existing, *entries], fresh)
    state = journey.model_copy(update={"timeline": []}).model_copy(deep=True)
    state.timeline = [*existing, *entries]
    return _fold(state, [(e, fresh[e.event_id]) for e in entries])


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
    "event_of",
    "indexed",
    "phase_of",
    "project",
]
