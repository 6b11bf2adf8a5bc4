"""Events the session (treatment-day) service produces."""

from typing import Annotated, Literal

from pydantic import Field

from contracts.envelope import EntityId, EventBase, UtcDatetime
from contracts.intake import RiskFlagRaised
from contracts.vocabulary import AdverseEventSeverity, CoursePhase, Protocol

Systolic = Annotated[int, Field(ge=50, le=300)]
Diastolic = Annotated[int, Field(ge=20, le=200)]


class PatientCheckedIn(EventBase):
    event_type: Literal["PatientCheckedIn"] = "PatientCheckedIn"
    session_id: EntityId
    appointment_id: EntityId
    protocol: Protocol


class VitalsRecorded(EventBase):
    event_type: Literal["VitalsRecorded"] = "VitalsRecorded"
    session_id: EntityId
    systolic: Systolic
    diastolic: Diastolic
    heart_rate: Annotated[int, Field(ge=20, le=250)]
    spo2: Annotated[int, Field(ge=50, le=100)]
    minutes_since_dose: Annotated[int, Field(ge=0, le=24 * 60)] | None = None


class DoseHeld(EventBase):
    event_type: Literal["DoseHeld"] = "DoseHeld"
    session_id: EntityId
    reason: Literal["blood_pressure_above_threshold"]
    systolic: Systolic
    diastolic: Diastolic


class DoseAdministered(EventBase):
    event_type: Literal["DoseAdministered"] = "DoseAdministered"
    session_id: EntityId
    appointment_id: EntityId
    protocol: Protocol
    dose_mg: Annotated[float, Field(gt=0, le=1000)]
    dose_number: Annotated[int, Field(ge=1)]
    lot_number: str = Field(min_length=1, max_length=40)
    administered_by: EntityId


class AdverseEventReported(EventBase):
    event_type: Literal["AdverseEventReported"] = "AdverseEventReported"
    session_id: EntityId
    kind: str = Field(min_length=1, max_length=64)
    severity: AdverseEventSeverity
    serious: bool


class SessionDischarged(EventBase):
    event_type: Literal["SessionDischarged"] = "SessionDischarged"
    session_id: EntityId
    appointment_id: EntityId
    protocol: Protocol
    dose_number: Annotated[int, Field(ge=1)]
    course_phase: CoursePhase
    monitoring_minutes: Annotated[int, Field(ge=0)]


class MonitoringFormDue(EventBase):
    event_type: Literal["MonitoringFormDue"] = "MonitoringFormDue"
    session_id: EntityId
    due_by: UtcDatetime


EVENTS: tuple[type[EventBase], ...] = (
    PatientCheckedIn,
    VitalsRecorded,
    DoseHeld,
    DoseAdministered,
    AdverseEventReported,
    SessionDischarged,
    MonitoringFormDue,
    RiskFlagRaised,
)
"""Every event the session service publishes on its topic, in catalog order."""
