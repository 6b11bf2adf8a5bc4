"""A treatment day's chart: the session and what is charted on it (the interactions flagged
at check-in, readings, holds, the dose, the discharge, adverse events, alerts, the REMS
monitoring form). The record holding every session of a patient is record.py.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.envelope import UtcDatetime
from contracts.session import MonitoringForm
from contracts.vocabulary import AdverseEventSeverity, CoursePhase, Interaction, Protocol


class InteractionFlag(BaseModel):
    interaction: Interaction
    medication: str
    monitoring: str


class Reading(BaseModel):
    observed_at: UtcDatetime
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int
    pre_dose: bool
    minutes_since_dose: int | None = None


class Hold(BaseModel):
    observed_at: UtcDatetime
    systolic: int
    diastolic: int
    released_at: UtcDatetime | None = None
    overridden_by: str | None = None
    override_reason: str | None = None


class Acknowledgement(BaseModel):
    acknowledged_by: str
    acknowledged_at: UtcDatetime
    interactions: list[Interaction]


class Dose(BaseModel):
    administered_at: UtcDatetime
    dose_mg: float
    lot_number: str
    weight_kg: float | None
    administered_by: str
    devices: int | None = None
    infusion_minutes: int | None = None


class Discharge(BaseModel):
    discharged_at: UtcDatetime
    monitoring_minutes: int
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
    ready_to_leave_at: UtcDatetime | None = None
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None


class AdverseEvent(BaseModel):
    adverse_event_id: str
    observed_at: UtcDatetime
    kind: str
    severity: AdverseEventSeverity
    serious: bool
    reported_by: str
    flag_id: UUID | None = None


class Alert(BaseModel):
    """Something the nurse must see on the session view (e.g. the 40-minute BP is overdue)."""

    kind: str
    due_at: UtcDatetime
    resolved_at: UtcDatetime | None = None


class FormStatus(BaseModel):
    due_by: UtcDatetime
    submitted_at: UtcDatetime | None = None
    submitted_by: str | None = None
    overdue: bool = False
    content: MonitoringForm | None = None


class Session(BaseModel):
    session_id: str
    appointment_id: str
    site_id: str
    protocol: Protocol
    dose_number: int
    course_phase: CoursePhase
    checked_in_at: UtcDatetime
    interactions: list[InteractionFlag]
    vitals: list[Reading] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)
    dose: Dose | None = None
    discharge: Discharge | None = None
    correlation_id: UUID | None = None
    interactions_acknowledged: Acknowledgement | None = None
    adverse_events: list[AdverseEvent] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    monitoring_form: FormStatus | None = None
    cancelled_at: UtcDatetime | None = None
    discharge_bp_accepted: Hold | None = None
    breaches: list[str] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """A treatment day in progress: neither discharged nor closed by its cancellation."""
        return self.discharge is None and self.cancelled_at is None

    @property
    def dose_held(self) -> bool:
        return any(hold.released_at is None for hold in self.holds)

    @property
    def unacknowledged_interactions(self) -> list[InteractionFlag]:
        seen = self.interactions_acknowledged
        done = set(seen.interactions) if seen else set()
        return [flag for flag in self.interactions if flag.interaction not in done]

    def alert(self, kind: str) -> Alert | None:
        return next((a for a in self.alerts if a.kind == kind), None)

    @property
    def last_observed_at(self) -> datetime:
        """The latest charted time: check-in, readings, acknowledgement, hold releases and
        overrides, dose (DESIGN safety invariant 1: a treatment day's timeline moves forward)."""
        times = [self.checked_in_at, *(r.observed_at for r in self.vitals)]
        times += [hold.released_at for hold in self.holds if hold.released_at is not None]
        if self.interactions_acknowledged is not None:
            times.append(self.interactions_acknowledged.acknowledged_at)
        return max([*times, self.dose.administered_at] if self.dose else times)
