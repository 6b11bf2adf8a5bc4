"""A treatment day's chart: the session and what is charted on it (the interactions flagged
at check-in, readings, holds, the dose, the discharge, adverse events, alerts, the REMS
monitoring form), and how a charted time and a reading are checked. The record holding every
session of a patient is record.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.envelope import Stamp, UtcDatetime
from contracts.session import MonitoringForm
from contracts.vocabulary import AdverseEventSeverity, CoursePhase, Interaction, Protocol
from services.runtime.refusals import FieldOutOfRange
from services.session.rules import SessionRules


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


class FieldOutOfRangeError(FieldOutOfRange):
    """A charted time outside what the session's timeline allows (422 on `field`)."""

    field = "observed_at"


class ObservedAtOutOfRangeError(FieldOutOfRangeError):
    """observed_at lies in the future or before the session's last observation (422)."""


def check_observed_at(
    at: datetime, now: datetime, rules: SessionRules, not_before: datetime | None = None
) -> None:
    """Nurses may chart after the fact, never ahead of the clock (beyond device skew), and a
    session's timeline only moves forward, so pre-dose and post-dose readings stay apart."""
    if at > now + timedelta(minutes=rules.observed_at_future_tolerance_min):
        raise ObservedAtOutOfRangeError(
            f"observed_at is more than {rules.observed_at_future_tolerance_min} min in the future"
        )
    if not_before is not None and at < not_before:
        raise ObservedAtOutOfRangeError(
            f"observed_at precedes the session's last observation ({not_before.isoformat()})"
        )


def envelope(stamp: Stamp, at: datetime, patient_id: str, site_id: str) -> dict[str, Any]:
    """Events carry the clinical time they describe as occurred_at (charting may be late)."""
    return replace(stamp, now=at).envelope(patient_id, site_id)


def bp_above_threshold(systolic: int, diastolic: int, rules: SessionRules) -> bool:
    """Spravato prescribing information (increase in blood pressure): assess BP before dosing;
    baseline above 140/90 weighs against dosing. DESIGN holds the dose above 140/90."""
    return systolic > rules.bp_systolic_max or diastolic > rules.bp_diastolic_max


def high_post_dose_reading(session: Session, rules: SessionRules) -> Reading | None:
    """The last post-dose reading if it is above the pre-dose limit: discharge needs a
    prescriber's acceptance of it (DESIGN safety invariant 5)."""
    post_dose = [reading for reading in session.vitals if not reading.pre_dose]
    last = post_dose[-1] if post_dose else None
    if last is None or not bp_above_threshold(last.systolic, last.diastolic, rules):
        return None
    return last


def whole_minutes(since: datetime, until: datetime) -> int:
    """Elapsed whole minutes, rounded down: 119 min 59 s is still 119 min of monitoring."""
    return int((until - since).total_seconds() // 60)
