"""The journey projection: a pure fold over a patient's timeline, sorted by time then event id.

Because the view is recomputed from the deduplicated, sorted timeline, any interleaving of
topics and any redelivery converge to the same document (DESIGN: journey projection).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from contracts import EventBase

ENVELOPE = frozenset(EventBase.model_fields) - {"event_type"}
NEVER_PROJECTED = frozenset({"identity"})
"""Identity lives only in intake (DESIGN); the projection drops it on the way in."""


class Entry(BaseModel):
    """One event on the timeline, without envelope plumbing or identity."""

    event_id: str
    event_type: str
    occurred_at: datetime
    site_id: str
    producer: str
    facts: dict[str, Any] = Field(default_factory=dict)

    @property
    def order(self) -> tuple[datetime, str]:
        return self.occurred_at, self.event_id


class Appointment(BaseModel):
    appointment_id: str
    kind: str
    starts_at: datetime
    dose_number: int | None = None
    status: str = "booked"


class Task(BaseModel):
    task_id: str
    kind: str
    coach_id: str
    due_at: datetime
    overdue: bool = False


class Journey(BaseModel):
    patient_id: str
    site_id: str = ""
    phase: str = "referred"
    screened: bool = False
    decision: str | None = None
    course_phase: str | None = None
    discharges: int = 0
    protocol: str | None = None
    doses_given: int = 0
    doses_planned: int | None = None
    doses_held: int = 0
    no_shows: int = 0
    monitoring_forms_due: int = 0
    coach_id: str | None = None
    coverage_pathway: str | None = None
    open_risk_flags: list[str] = Field(default_factory=list)
    interactions: list[str] = Field(default_factory=list)
    appointments: dict[str, Appointment] = Field(default_factory=dict)
    open_tasks: dict[str, Task] = Field(default_factory=dict)
    phq9: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[Entry] = Field(default_factory=list)

    @property
    def next_appointment(self) -> Appointment | None:
        booked = [a for a in self.appointments.values() if a.status == "booked"]
        return min(booked, key=lambda a: a.starts_at, default=None)


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


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


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


def _screened(j: Journey, e: Entry) -> None:
    j.screened = True
    j.phq9.append(
        {"at": e.occurred_at.isoformat(), "total": e.facts["phq9_total"], "source": "screening"}
    )


def _decided(j: Journey, e: Entry) -> None:
    decision = e.facts["decision"]
    j.decision = decision
    j.protocol = e.facts.get("protocol") or j.protocol
    j.doses_planned = e.facts.get("planned_doses") or j.doses_planned
    j.coverage_pathway = e.facts.get("coverage_pathway")


def _course(j: Journey, e: Entry) -> None:
    j.protocol, j.doses_planned = e.facts["protocol"], e.facts["planned_doses"]


def _booked(j: Journey, e: Entry) -> None:
    f = e.facts
    j.appointments[f["appointment_id"]] = Appointment(
        appointment_id=f["appointment_id"],
        kind=f["kind"],
        starts_at=_at(f["starts_at"]),
        dose_number=f.get("dose_number"),
    )


def _appointment_status(status: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, e: Entry) -> None:
        appointment = j.appointments.get(e.facts["appointment_id"])
        if appointment is not None:
            appointment.status = status
        if status == "no_show":
            j.no_shows += 1

    return apply


def _rescheduled(j: Journey, e: Entry) -> None:
    appointment = j.appointments.get(e.facts["appointment_id"])
    if appointment is not None:
        appointment.starts_at = _at(e.facts["starts_at"])


def _dosed(j: Journey, e: Entry) -> None:
    j.doses_given += 1
    j.protocol = e.facts["protocol"]


def _discharged(j: Journey, e: Entry) -> None:
    j.discharges += 1
    j.course_phase = e.facts["course_phase"]


def _flag_raised(j: Journey, e: Entry) -> None:
    if e.facts["flag_id"] not in j.open_risk_flags:
        j.open_risk_flags.append(e.facts["flag_id"])


def _flag_acknowledged(j: Journey, e: Entry) -> None:
    if e.facts["flag_id"] in j.open_risk_flags:
        j.open_risk_flags.remove(e.facts["flag_id"])


def _task_created(j: Journey, e: Entry) -> None:
    f = e.facts
    j.open_tasks[f["task_id"]] = Task(
        task_id=f["task_id"], kind=f["kind"], coach_id=f["coach_id"], due_at=_at(f["due_at"])
    )


def _task_completed(j: Journey, e: Entry) -> None:
    j.open_tasks.pop(e.facts["task_id"], None)


def _task_overdue(j: Journey, e: Entry) -> None:
    task = j.open_tasks.get(e.facts["task_id"])
    if task is not None:
        task.overdue = True


def _outcome(j: Journey, e: Entry) -> None:
    j.phq9.append(
        {"at": e.occurred_at.isoformat(), "total": e.facts["total"], "source": "follow_up"}
    )


def _interaction(j: Journey, e: Entry) -> None:
    if e.facts["interaction"] not in j.interactions:
        j.interactions.append(e.facts["interaction"])


def _counter(field: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, _e: Entry) -> None:
        setattr(j, field, getattr(j, field) + 1)

    return apply


EVOLVE: dict[str, Callable[[Journey, Entry], None]] = {
    "ScreeningScored": _screened,
    "RiskFlagRaised": _flag_raised,
    "RiskFlagAcknowledged": _flag_acknowledged,
    "MedicationInteractionFlagged": _interaction,
    "EligibilityDecided": _decided,
    "CourseScheduled": _course,
    "AppointmentBooked": _booked,
    "AppointmentRescheduled": _rescheduled,
    "AppointmentCancelled": _appointment_status("cancelled"),
    "AppointmentNoShow": _appointment_status("no_show"),
    "PatientCheckedIn": _appointment_status("attended"),
    "DoseHeld": _counter("doses_held"),
    "DoseAdministered": _dosed,
    "SessionDischarged": _discharged,
    "MonitoringFormDue": _counter("monitoring_forms_due"),
    "CoachAssigned": lambda j, e: setattr(j, "coach_id", e.facts["coach_id"]),
    "FollowUpTaskCreated": _task_created,
    "FollowUpTaskCompleted": _task_completed,
    "FollowUpTaskOverdue": _task_overdue,
    "OutcomeMeasured": _outcome,
}
"""The routing table of the projection: event type -> how it changes the journey.
Events not listed still appear on the timeline."""


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
