"""The treatment record: one per patient, its sessions, and how upstream facts fold into it."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch

from pydantic import BaseModel, Field

from contracts.envelope import EventBase, UtcDatetime
from contracts.intake import MedicationInteractionFlagged, RiskFlagAcknowledged, RiskFlagRaised
from contracts.scheduling import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from contracts.vocabulary import (
    AppointmentKind,
    CoursePhase,
    Interaction,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.runtime.errors import NotFound, RuleViolation

TREATMENT_DAY_KINDS = frozenset({AppointmentKind.DOSING, AppointmentKind.BOOSTER})


class SessionRuleViolation(RuleViolation):
    """Base of the session service's named rule violations; `reasons` name the specifics."""

    def __init__(self, *reasons: str) -> None:
        super().__init__(*reasons)
        self.reasons = reasons


class SessionAlreadyDischarged(SessionRuleViolation):
    """A discharged session is closed to further charting."""


class PatientNotFound(NotFound):
    """No treatment record for this patient."""


class SessionNotFound(NotFound):
    """No such session for this patient."""


class Booking(BaseModel):
    appointment_id: str
    site_id: str
    starts_at: UtcDatetime
    dose_number: int | None = None
    protocol: Protocol | None = None
    course_phase: CoursePhase | None = None


class InteractionFlag(BaseModel):
    interaction: Interaction
    medication: str
    monitoring: str


class RiskFlag(BaseModel):
    kind: RiskKind
    severity: RiskSeverity
    raised_at: UtcDatetime


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


class Dose(BaseModel):
    administered_at: UtcDatetime
    dose_mg: float
    lot_number: str
    weight_kg: float | None
    administered_by: str


class Discharge(BaseModel):
    discharged_at: UtcDatetime
    monitoring_minutes: int
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool


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

    @property
    def dose_held(self) -> bool:
        return any(hold.released_at is None for hold in self.holds)

    @property
    def last_observed_at(self) -> datetime:
        times = [self.checked_in_at, *(r.observed_at for r in self.vitals)]
        return max([*times, self.dose.administered_at] if self.dose else times)


class TreatmentRecord(BaseModel):
    """One per patient: what upstream services told us, and the patient's sessions."""

    patient_id: str
    bookings: dict[str, Booking] = Field(default_factory=dict)
    interactions: list[InteractionFlag] = Field(default_factory=list)
    open_risk_flags: dict[str, RiskFlag] = Field(default_factory=dict)
    sessions: dict[str, Session] = Field(default_factory=dict)


def _copy(record: TreatmentRecord | None, patient_id: str) -> TreatmentRecord:
    if record is None:
        return TreatmentRecord(patient_id=patient_id)
    return record.model_copy(deep=True)


@singledispatch
def absorb(event: EventBase, record: TreatmentRecord | None) -> TreatmentRecord:
    """Fold an upstream fact into the record; facts the treatment day ignores change nothing."""
    return _copy(record, event.patient_id)


@absorb.register
def _booked(event: AppointmentBooked, record: TreatmentRecord | None) -> TreatmentRecord:
    """Dosing and booster appointments are treatment days (DESIGN: treatment days, boosters)."""
    updated = _copy(record, event.patient_id)
    if event.kind in TREATMENT_DAY_KINDS:
        updated.bookings[event.appointment_id] = Booking(
            appointment_id=event.appointment_id,
            site_id=event.site_id,
            starts_at=event.starts_at,
            dose_number=event.dose_number,
            protocol=event.protocol,
            course_phase=event.course_phase,
        )
    return updated


@absorb.register
def _rescheduled(event: AppointmentRescheduled, record: TreatmentRecord | None) -> TreatmentRecord:
    updated = _copy(record, event.patient_id)
    booking = updated.bookings.get(event.appointment_id)
    if booking is not None:
        booking.starts_at = event.starts_at
    return updated


@absorb.register
def _cancelled(event: AppointmentCancelled, record: TreatmentRecord | None) -> TreatmentRecord:
    updated = _copy(record, event.patient_id)
    updated.bookings.pop(event.appointment_id, None)
    return updated


@absorb.register
def _interaction(
    event: MedicationInteractionFlagged, record: TreatmentRecord | None
) -> TreatmentRecord:
    """Interactions flagged at intake are shown at every check-in (DESIGN: interactions)."""
    updated = _copy(record, event.patient_id)
    flag = InteractionFlag(
        interaction=event.interaction, medication=event.medication, monitoring=event.monitoring
    )
    if flag not in updated.interactions:
        updated.interactions.append(flag)
    return updated


@absorb.register
def _risk_raised(event: RiskFlagRaised, record: TreatmentRecord | None) -> TreatmentRecord:
    updated = _copy(record, event.patient_id)
    updated.open_risk_flags[str(event.flag_id)] = RiskFlag(
        kind=event.kind, severity=event.severity, raised_at=event.occurred_at
    )
    return updated


@absorb.register
def _risk_acknowledged(
    event: RiskFlagAcknowledged, record: TreatmentRecord | None
) -> TreatmentRecord:
    updated = _copy(record, event.patient_id)
    updated.open_risk_flags.pop(str(event.flag_id), None)
    return updated


def session_of(record: TreatmentRecord, session_id: str) -> Session:
    session = record.sessions.get(session_id)
    if session is None:
        raise SessionNotFound(session_id)
    return session


def open_session(record: TreatmentRecord, session_id: str) -> Session:
    session = session_of(record, session_id)
    if session.discharge is not None:
        raise SessionAlreadyDischarged(session_id)
    return session


def with_session(record: TreatmentRecord, session: Session) -> TreatmentRecord:
    updated = record.model_copy(deep=True)
    updated.sessions[session.session_id] = session
    return updated
