"""Session's HTTP request models: shape and range checks, then the domain command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.vocabulary import AdverseEventSeverity
from services.session.chart import Session, high_post_dose_reading
from services.session.discharge import DischargePatient
from services.session.domain import CheckIn, RecordVitals
from services.session.dosing import AdministerDose
from services.session.gates import (
    AcceptDischargeBloodPressure,
    AcknowledgeInteractions,
    OverrideDoseHold,
)
from services.session.rems_form import SubmitForm
from services.session.rules import SessionRules
from services.session.safety import AcknowledgeRiskFlag, ReportAdverseEvent

ObservedAt = Annotated[
    AwareDatetime | None,
    Field(description="Clinical time of the observation (defaults to now); may be retroactive."),
]


def _at(observed_at: datetime | None, now: datetime) -> datetime:
    return (observed_at or now).astimezone(UTC)


class CheckInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    appointment_id: str = Field(min_length=1, max_length=64)
    observed_at: ObservedAt = None

    def to_command(self, now: datetime) -> CheckIn:
        return CheckIn(appointment_id=self.appointment_id, observed_at=_at(self.observed_at, now))


class VitalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systolic: int = Field(ge=50, le=300)
    diastolic: int = Field(ge=20, le=200)
    heart_rate: int = Field(ge=20, le=250)
    spo2: int = Field(ge=50, le=100)
    observed_at: ObservedAt = None

    @model_validator(mode="after")
    def diastolic_below_systolic(self) -> VitalsIn:
        if self.diastolic >= self.systolic:
            raise ValueError("diastolic must be below systolic")
        return self

    def to_command(self, session_id: str, now: datetime) -> RecordVitals:
        return RecordVitals(
            session_id=session_id,
            systolic=self.systolic,
            diastolic=self.diastolic,
            heart_rate=self.heart_rate,
            spo2=self.spo2,
            observed_at=_at(self.observed_at, now),
        )


class ObservedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observed_at: ObservedAt = None

    def acknowledge(self, session_id: str, by: str, now: datetime) -> AcknowledgeInteractions:
        return AcknowledgeInteractions(session_id, by, _at(self.observed_at, now))

    def acknowledge_flag(
        self, session_id: str, flag_id: UUID, by: str, now: datetime
    ) -> AcknowledgeRiskFlag:
        return AcknowledgeRiskFlag(session_id, flag_id, by, _at(self.observed_at, now))


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="Why dosing above threshold.")
    observed_at: ObservedAt = None

    def to_command(self, session_id: str, prescriber: str, now: datetime) -> OverrideDoseHold:
        return OverrideDoseHold(session_id, prescriber, self.reason, _at(self.observed_at, now))


class AcceptBloodPressureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=3,
        max_length=500,
        description="Why the last post-dose reading, above the pre-dose limit, allows discharge.",
    )
    observed_at: ObservedAt = None

    def to_command(
        self, session_id: str, prescriber: str, now: datetime
    ) -> AcceptDischargeBloodPressure:
        return AcceptDischargeBloodPressure(
            session_id, prescriber, self.reason, _at(self.observed_at, now)
        )


class DoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dose_mg: float | None = Field(
        default=None, gt=0, le=1000, description="Required except for IV (computed from weight)."
    )
    devices: int | None = Field(default=None, ge=1, le=3, description="Esketamine 28 mg devices.")
    lot_number: str = Field(min_length=1, max_length=40)
    weight_kg: float | None = Field(default=None, ge=20, le=350)
    observed_at: ObservedAt = None

    def to_command(self, session_id: str, administered_by: str, now: datetime) -> AdministerDose:
        return AdministerDose(
            session_id=session_id,
            dose_mg=self.dose_mg,
            lot_number=self.lot_number,
            weight_kg=self.weight_kg,
            administered_by=administered_by,
            observed_at=_at(self.observed_at, now),
            devices=self.devices,
        )


class AdverseEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="A coded term (e.g. hypertension, vomiting), never free text.",
    )
    severity: AdverseEventSeverity
    serious: bool = False
    observed_at: ObservedAt = None

    def to_command(self, session_id: str, by: str, now: datetime) -> ReportAdverseEvent:
        return ReportAdverseEvent(
            session_id, self.kind, self.severity, self.serious, by, _at(self.observed_at, now)
        )


class FormIn(BaseModel):
    """What the chart may lack for the REMS form; everything else comes from the session."""

    model_config = ConfigDict(extra="forbid")
    ready_to_leave_at: AwareDatetime | None = None
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None
    observed_at: ObservedAt = None

    def to_command(self, session_id: str, by: str, now: datetime) -> SubmitForm:
        return SubmitForm(
            session_id=session_id,
            submitted_by=by,
            observed_at=_at(self.observed_at, now),
            ready_to_leave_at=_optional_utc(self.ready_to_leave_at),
            sedation_observed=self.sedation_observed,
            dissociation_observed=self.dissociation_observed,
        )


def _optional_utc(at: datetime | None) -> datetime | None:
    return at.astimezone(UTC) if at else None


class DischargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
    ready_to_leave_at: AwareDatetime | None = Field(
        default=None,
        description="REMS form: when the patient would have been ready to leave without the "
        "2-hour rule (sedation and dissociation resolved).",
    )
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None
    observed_at: ObservedAt = None

    def to_command(self, session_id: str, now: datetime) -> DischargePatient:
        return DischargePatient(
            session_id=session_id,
            sedation_resolved=self.sedation_resolved,
            dissociation_resolved=self.dissociation_resolved,
            respiratory_ok=self.respiratory_ok,
            vitals_acceptable=self.vitals_acceptable,
            transport_confirmed=self.transport_confirmed,
            observed_at=_at(self.observed_at, now),
            ready_to_leave_at=_optional_utc(self.ready_to_leave_at),
            sedation_observed=self.sedation_observed,
            dissociation_observed=self.dissociation_observed,
        )


def session_view(session: Session, rules: SessionRules) -> dict[str, Any]:
    """The session as a nurse reads it: the chart, whether the dose is held, which interaction
    flags still need acknowledging, the open alerts (e.g. the 40-minute BP is overdue) and the
    post-dose reading a prescriber must accept before discharge, if any."""
    high = high_post_dose_reading(session, rules)
    accepted = session.discharge_bp_accepted
    to_accept = (
        high if high and not (accepted and accepted.observed_at >= high.observed_at) else None
    )
    return {
        **session.model_dump(mode="json"),
        "dose_held": session.dose_held,
        "interactions_to_acknowledge": [
            f.interaction.value for f in session.unacknowledged_interactions
        ],
        "open_alerts": [a.kind for a in session.alerts if a.resolved_at is None],
        "reading_to_accept": to_accept.model_dump(mode="json") if to_accept else None,
    }
