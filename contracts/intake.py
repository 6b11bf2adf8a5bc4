"""Events the intake service produces: referral, screening, safety flags, eligibility, consent."""

from datetime import date
from enum import StrEnum
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
Reason = Annotated[str, Field(min_length=1, max_length=64)]


class Contraindication(StrEnum):
    """Conditions that block eligibility (label contraindications) or exclude a patient from
    most programs (configurable exclusions); DESIGN: contraindications."""

    ANEURYSMAL_VASCULAR_DISEASE = "aneurysmal_vascular_disease"
    ARTERIOVENOUS_MALFORMATION = "arteriovenous_malformation"
    INTRACEREBRAL_HAEMORRHAGE = "intracerebral_haemorrhage"
    HYPERSENSITIVITY = "hypersensitivity"
    UNCONTROLLED_HYPERTENSION = "uncontrolled_hypertension"
    PSYCHOSIS = "psychosis"
    PREGNANCY = "pregnancy"
    SUBSTANCE_USE_DISORDER = "substance_use_disorder"


class Identity(StrictModel):
    """Identity and contact data: lives only here and in the intake service (DESIGN)."""

    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


Base64 = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9+/]+={0,2}$")]


class SealedIdentity(StrictModel):
    """An `Identity` encrypted with the patient's own data key (AES-256-GCM, the patient id as
    associated data). Intake holds the data key, wrapped by a key-encryption key; deleting it
    erases the identity wherever this ciphertext was copied (topics, dead letters, backups)."""

    alg: Literal["A256GCM"] = "A256GCM"
    key_id: UUID = Field(description="The patient's data key (kept by intake, never published).")
    nonce: Base64
    ciphertext: Base64


class PatientReferred(EventBase):
    """Carries the identity only as ciphertext (`SealedIdentity`)."""

    event_type: Literal["PatientReferred"] = "PatientReferred"
    referral_source: str = Field(min_length=1, max_length=64)
    identity: SealedIdentity


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


class ContraindicationFound(EventBase):
    """A safety rule matched. `blocking` findings stop approval until a prescriber overrides
    them with a reason; non-blocking ones (exclusions a program has switched off) are shown."""

    event_type: Literal["ContraindicationFound"] = "ContraindicationFound"
    contraindication: Contraindication
    blocking: bool
    rule_source: str = Field(min_length=1, max_length=200)


class ContraindicationOverridden(EventBase):
    event_type: Literal["ContraindicationOverridden"] = "ContraindicationOverridden"
    contraindication: Contraindication
    overridden_by: EntityId
    reason: str = Field(min_length=1, max_length=500)


class RiskFlagEscalated(EventBase):
    """A risk flag was not acknowledged by its deadline (DESIGN: urgent review routed to a
    clinician with an acknowledgement deadline)."""

    event_type: Literal["RiskFlagEscalated"] = "RiskFlagEscalated"
    flag_id: UUID
    kind: RiskKind
    severity: RiskSeverity
    acknowledge_by: UtcDatetime


class CoverageAssessed(EventBase):
    """Treatment resistance under the patient's payer rule and the pathway each protocol
    would take (DESIGN: coverage pathway)."""

    event_type: Literal["CoverageAssessed"] = "CoverageAssessed"
    payer: EntityId
    adequate_failed_trials: Score
    treatment_resistant: bool
    esketamine_pathway: CoveragePathway
    iv_ketamine_pathway: CoveragePathway
    reasons: list[Reason] = Field(default_factory=list)


class MedicationsUpdated(EventBase):
    event_type: Literal["MedicationsUpdated"] = "MedicationsUpdated"
    medications: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=50)


EVENTS: tuple[type[EventBase], ...] = (
    PatientReferred,
    ScreeningScored,
    RiskFlagRaised,
    RiskFlagAcknowledged,
    MedicationInteractionFlagged,
    EligibilityDecided,
    ConsentRecorded,
    ContraindicationFound,
    ContraindicationOverridden,
    RiskFlagEscalated,
    CoverageAssessed,
    MedicationsUpdated,
)
"""Every event the intake service publishes on its topic, in catalog order."""
