"""Session's HTTP request models: shape and range checks, then the domain command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.session.domain import CheckIn, RecordVitals
from services.session.dosing import AdministerDose, DischargePatient
from services.session.record import Session

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


class DoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dose_mg: float = Field(gt=0, le=1000)
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
        )


class DischargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
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
        )


def session_view(session: Session) -> dict[str, Any]:
    """The session as a nurse reads it: the chart plus whether the dose is currently held."""
    return {**session.model_dump(mode="json"), "dose_held": session.dose_held}
