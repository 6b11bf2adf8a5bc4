"""The treatment record: one per patient, its sessions, and how upstream facts fold into it."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.envelope import EventBase, UtcDatetime
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    MedicationInteractionFlagged,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from contracts.session import MonitoringForm
from contracts.vocabulary import (
    AdverseEventSeverity,
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
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


class SessionCancelled(SessionRuleViolation):
    """DESIGN safety invariants 3 and 6: a cancelled appointment is not dosed; its cancellation
    closes the session it opened, if no dose was given."""


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


class TreatmentRecord(BaseModel):
    """One per patient: what upstream services told us, and the patient's sessions."""

    patient_id: str
    bookings: dict[str, Booking] = Field(default_factory=dict)
    interactions: list[InteractionFlag] = Field(default_factory=list)
    open_risk_flags: dict[str, RiskFlag] = Field(default_factory=dict)
    sessions: dict[str, Session] = Field(default_factory=dict)
    rems_enrolled: bool = False
    prescriber_id: str | None = None
    eligibility: Decision | None = None
    received_at: UtcDatetime | None = None


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
    """DESIGN safety invariant 6: a cancellation closes its open session (if not yet dosed)."""
    updated = _copy(record, event.patient_id)
    updated.bookings.pop(event.appointment_id, None)
    for session in updated.sessions.values():
        undosed = session.is_open and session.dose is None
        if session.appointment_id == event.appointment_id and undosed:
            session.cancelled_at = event.occurred_at
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
    for session in updated.sessions.values():
        if session.dose is None and flag not in session.interactions:
            session.interactions.append(flag)
    return updated


@absorb.register
def _referred(event: PatientReferred, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 1: the referral's occurred_at is when it reached the clinic
    (received_at); nothing of the patient's treatment is charted before it. Identity is not
    kept here."""
    updated = _copy(record, event.patient_id)
    updated.received_at = event.occurred_at
    return updated


@absorb.register
def _consent(event: ConsentRecorded, record: TreatmentRecord | None) -> TreatmentRecord:
    """Spravato REMS: the patient is enrolled before the first dose; intake records it."""
    updated = _copy(record, event.patient_id)
    if event.consent is ConsentKind.REMS_ENROLMENT:
        updated.rems_enrolled = event.given
    return updated


@absorb.register
def _eligibility(event: EligibilityDecided, record: TreatmentRecord | None) -> TreatmentRecord:
    """The approving psychiatrist is the prescriber notified of serious adverse events; the
    latest decision gates treatment days (DESIGN safety invariant 3)."""
    updated = _copy(record, event.patient_id)
    updated.eligibility = event.decision
    if event.decision is Decision.APPROVED:
        updated.prescriber_id = event.decided_by
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
    if session.cancelled_at is not None:
        raise SessionCancelled(session_id)
    return session


def with_session(record: TreatmentRecord, session: Session) -> TreatmentRecord:
    updated = record.model_copy(deep=True)
    updated.sessions[session.session_id] = session
    return updated
