"""Events the intake service produces: referral, screening, safety flags, eligibility, consent."""

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from contracts.envelope import EntityId, EventBase, StrictModel, UtcDatetime
from contracts.vocabulary import (
    ConsentKind,
    CoveragePathway,
    CssrsRisk,
    Decision,
    Gad7Band,
    Interaction,
    Modality,
    Phq9Band,
    Protocol,
    RiskKind,
    RiskSeverity,
)

Score = Annotated[int, Field(ge=0)]


class Identity(StrictModel):
    """Identity and contact data: lives only here and in the intake service (DESIGN)."""

    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PatientReferred(EventBase):
    event_type: Literal["PatientReferred"] = "PatientReferred"
    referral_source: str = Field(min_length=1, max_length=64)
    identity: Identity


class ScreeningScored(EventBase):
    event_type: Literal["ScreeningScored"] = "ScreeningScored"
    phq9_total: Annotated[int, Field(ge=0, le=27)]
    phq9_band: Phq9Band
    phq9_item9: Annotated[int, Field(ge=0, le=3)]
    gad7_total: Annotated[int, Field(ge=0, le=21)]
    gad7_band: Gad7Band
    cssrs_risk: CssrsRisk
    adequate_failed_trials: Score


class RiskFlagRaised(EventBase):
    """Raised by intake (screening), session (serious adverse event) and coaching (follow-up)."""

    event_type: Literal["RiskFlagRaised"] = "RiskFlagRaised"
    flag_id: UUID
    kind: RiskKind
    severity: RiskSeverity
    acknowledge_by: UtcDatetime


class RiskFlagAcknowledged(EventBase):
    event_type: Literal["RiskFlagAcknowledged"] = "RiskFlagAcknowledged"
    flag_id: UUID
    acknowledged_by: EntityId


class MedicationInteractionFlagged(EventBase):
    event_type: Literal["MedicationInteractionFlagged"] = "MedicationInteractionFlagged"
    interaction: Interaction
    medication: str = Field(min_length=1, max_length=64)
    monitoring: str = Field(min_length=1, max_length=200)


class EligibilityDecided(EventBase):
    event_type: Literal["EligibilityDecided"] = "EligibilityDecided"
    decision: Decision
    decided_by: EntityId
    protocol: Protocol | None = None
    modality: Modality | None = None
    planned_doses: Annotated[int, Field(ge=1, le=52)] | None = None
    coverage_pathway: CoveragePathway | None = None
    reasons: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)


class ConsentRecorded(EventBase):
    event_type: Literal["ConsentRecorded"] = "ConsentRecorded"
    consent: ConsentKind
    given: bool


EVENTS: tuple[type[EventBase], ...] = (
    PatientReferred,
    ScreeningScored,
    RiskFlagRaised,
    RiskFlagAcknowledged,
    MedicationInteractionFlagged,
    EligibilityDecided,
    ConsentRecorded,
)
"""Every event the intake service publishes on its topic, in catalog order."""
