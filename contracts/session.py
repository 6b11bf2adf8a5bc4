"""Events the session (treatment-day) service produces."""

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from contracts.envelope import EntityId, EventBase, StrictModel, UtcDatetime
from contracts.intake import RiskFlagAcknowledged, RiskFlagRaised
from contracts.vocabulary import AdverseEventSeverity, CoursePhase, Interaction, Protocol

Systolic = Annotated[int, Field(ge=50, le=300)]
Diastolic = Annotated[int, Field(ge=20, le=200)]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]


class PatientCheckedIn(EventBase):
    event_type: Literal["PatientCheckedIn"] = "PatientCheckedIn"
    session_id: EntityId
    appointment_id: EntityId
    protocol: Protocol


class InteractionsAcknowledged(EventBase):
    """The interaction flags carried from intake were shown and acknowledged before dosing."""

    event_type: Literal["InteractionsAcknowledged"] = "InteractionsAcknowledged"
    session_id: EntityId
    interactions: list[Interaction] = Field(min_length=1)
    acknowledged_by: EntityId


class VitalsRecorded(EventBase):
    event_type: Literal["VitalsRecorded"] = "VitalsRecorded"
    session_id: EntityId
    systolic: Systolic
    diastolic: Diastolic
    heart_rate: Annotated[int, Field(ge=20, le=250)]
    spo2: Annotated[int, Field(ge=50, le=100)]
    minutes_since_dose: Minutes | None = None


class DoseHeld(EventBase):
    event_type: Literal["DoseHeld"] = "DoseHeld"
    session_id: EntityId
    reason: Literal["blood_pressure_above_threshold"]
    systolic: Systolic
    diastolic: Diastolic


class DoseHoldOverridden(EventBase):
    """A prescriber released a blood-pressure hold with a reason (DESIGN: treatment day)."""

    event_type: Literal["DoseHoldOverridden"] = "DoseHoldOverridden"
    session_id: EntityId
    overridden_by: EntityId
    reason: str = Field(min_length=3, max_length=500)
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
    devices: Annotated[int, Field(ge=1, le=3)] | None = None
    weight_kg: Annotated[float, Field(ge=20, le=350)] | None = None
    infusion_minutes: Annotated[int, Field(ge=1, le=240)] | None = None


class AdverseEventReported(EventBase):
    event_type: Literal["AdverseEventReported"] = "AdverseEventReported"
    session_id: EntityId
    kind: str = Field(min_length=1, max_length=64)
    severity: AdverseEventSeverity
    serious: bool
    adverse_event_id: EntityId | None = None
    reported_by: EntityId | None = None


class PrescriberNotified(EventBase):
    """The prescriber is told of a serious adverse event (journey and dashboards show it)."""

    event_type: Literal["PrescriberNotified"] = "PrescriberNotified"
    session_id: EntityId
    reason: Literal["serious_adverse_event"]
    prescriber_id: EntityId | None = None
    flag_id: UUID
    adverse_event_id: EntityId


class MonitoringCheckOverdue(EventBase):
    """A post-dose monitoring check was not charted in time (a clock fired it, once)."""

    event_type: Literal["MonitoringCheckOverdue"] = "MonitoringCheckOverdue"
    session_id: EntityId
    check: Literal["bp_40min"]
    due_at: UtcDatetime


class SessionDischarged(EventBase):
    event_type: Literal["SessionDischarged"] = "SessionDischarged"
    session_id: EntityId
    appointment_id: EntityId
    protocol: Protocol
    dose_number: Annotated[int, Field(ge=1)]
    course_phase: CoursePhase
    monitoring_minutes: Annotated[int, Field(ge=0)]
    dose_mg: Annotated[float, Field(gt=0, le=1000)] | None = None
    dosed_at: UtcDatetime | None = None
    adverse_events: Annotated[int, Field(ge=0)] = 0
    serious_adverse_event: bool = False
    monitoring_form_due_by: UtcDatetime | None = None


class MonitoringFormDue(EventBase):
    event_type: Literal["MonitoringFormDue"] = "MonitoringFormDue"
    session_id: EntityId
    due_by: UtcDatetime


class BloodPressure(StrictModel):
    systolic: Systolic
    diastolic: Diastolic
    minutes_since_dose: Minutes | None = None


class MonitoringForm(StrictModel):
    """The Spravato REMS Patient Monitoring Form's content, assembled from the session."""

    dose_mg: Annotated[float, Field(gt=0, le=1000)]
    devices: Annotated[int, Field(ge=1, le=3)] | None = None
    lot_number: str = Field(min_length=1, max_length=40)
    dosed_at: UtcDatetime
    monitoring_minutes: Annotated[int, Field(ge=0)]
    ready_to_leave_at: UtcDatetime
    ready_to_leave_minutes: Annotated[int, Field(ge=0)]
    bp_pre_dose: BloodPressure
    bp_40_min: BloodPressure | None = None
    bp_pre_discharge: BloodPressure
    vitals_acceptable: bool
    sedation_observed: bool
    dissociation_observed: bool
    concomitant_medication_flags: list[Interaction] = Field(default_factory=list)
    adverse_events: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)


class MonitoringFormSubmitted(EventBase):
    event_type: Literal["MonitoringFormSubmitted"] = "MonitoringFormSubmitted"
    session_id: EntityId
    submitted_by: EntityId
    form: MonitoringForm


class MonitoringFormOverdue(EventBase):
    """The REMS form was not submitted within 7 days of the dose (a clock fired it, once)."""

    event_type: Literal["MonitoringFormOverdue"] = "MonitoringFormOverdue"
    session_id: EntityId
    due_by: UtcDatetime


class DischargeBloodPressureAccepted(EventBase):
    """A prescriber accepted a post-dose reading above the pre-dose limit for discharge, with a
    reason (DESIGN safety invariant 5: "vitals acceptable" is consistent with the last reading)."""

    event_type: Literal["DischargeBloodPressureAccepted"] = "DischargeBloodPressureAccepted"
    session_id: EntityId
    accepted_by: EntityId
    reason: str = Field(min_length=1, max_length=500)
    systolic: Systolic
    diastolic: Diastolic


class UnsafeDoseDetected(EventBase):
    """A fact that would have refused a dose reached the session after the dose was charted:
    the dose slipped through the window between services (DESIGN safety invariants 3-4). Raised,
    never hidden: the journey shows it and the approving prescriber is notified to review."""

    event_type: Literal["UnsafeDoseDetected"] = "UnsafeDoseDetected"
    session_id: EntityId
    dosed_at: UtcDatetime
    rule: str = Field(min_length=1, max_length=64)
    facts: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=10)
    prescriber_id: EntityId | None = None


EVENTS: tuple[type[EventBase], ...] = (
    PatientCheckedIn,
    VitalsRecorded,
    DoseHeld,
    DoseAdministered,
    AdverseEventReported,
    SessionDischarged,
    MonitoringFormDue,
    RiskFlagRaised,
    InteractionsAcknowledged,
    DoseHoldOverridden,
    PrescriberNotified,
    MonitoringCheckOverdue,
    MonitoringFormSubmitted,
    MonitoringFormOverdue,
    RiskFlagAcknowledged,
    DischargeBloodPressureAccepted,
    UnsafeDoseDetected,
)
"""Every event the session service publishes on its topic, in catalog order."""
