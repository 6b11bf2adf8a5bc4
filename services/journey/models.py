"""The journey document and its parts: what reads return and rebuilds must reproduce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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
    escalated: bool = False


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
    course_blocked: str | None = None
    forms_due: dict[str, bool] = Field(default_factory=dict)
    monitoring_alerts: dict[str, str] = Field(default_factory=dict)
    serious_adverse_events: int = 0
    hold_overrides: int = 0
    unsafe_doses: dict[str, str] = Field(
        default_factory=dict,
        description="Session id -> the safety rule a dose was found to break after it was "
        "given (a fact reached the session service late); the prescriber reviews it.",
    )
    escalated_risk_flags: list[str] = Field(default_factory=list)
    blocking_contraindications: list[str] = Field(default_factory=list)
    pending_proposals: dict[str, str] = Field(default_factory=dict)
    integration_sessions: dict[str, int] = Field(default_factory=dict)
    outcome: str | None = None
    phq9: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[Entry] = Field(default_factory=list)

    @property
    def next_appointment(self) -> Appointment | None:
        booked = [a for a in self.appointments.values() if a.status == "booked"]
        return min(booked, key=lambda a: a.starts_at, default=None)
