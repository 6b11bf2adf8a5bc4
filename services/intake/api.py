"""Intake's HTTP request and response models: shape and range checks only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.envelope import UtcDatetime
from contracts.intake import Contraindication, Identity, SealedIdentity
from contracts.vocabulary import ConsentKind, Decision, Modality, Protocol
from services.intake.coverage import DEFAULT_PAYER, Trial
from services.intake.domain import Referral
from services.intake.rules import PregnancyStatus, SafetyFacts
from services.intake.scoring import CssrsScreener

Answer = Annotated[int, Field(ge=0, le=3)]
Medication = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=64)]
OLDEST_PLAUSIBLE_AGE_YEARS = 130


def _answers(answers: list[int], count: int, instrument: str) -> list[int]:
    if len(answers) != count:
        raise ValueError(f"{instrument} has exactly {count} items; got {len(answers)}")
    return answers


class IdentityIn(Identity):
    """Identity as submitted: the date of birth must be in the past and plausible."""

    @field_validator("date_of_birth")
    @classmethod
    def born_in_the_past(cls, born: date) -> date:
        today = datetime.now(UTC).date()
        if born >= today:
            raise ValueError("date_of_birth must be in the past")
        if today.year - born.year > OLDEST_PLAUSIBLE_AGE_YEARS:
            raise ValueError(f"date_of_birth is more than {OLDEST_PLAUSIBLE_AGE_YEARS} years ago")
        return born

    def to_identity(self) -> Identity:
        return Identity.model_validate(self.model_dump())


class TrialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drug: str = Field(min_length=1, max_length=64)
    adequate_dose: bool
    weeks: int = Field(ge=0, le=520)
    outcome: Literal["failed", "partial", "responded", "not_tolerated"]


class CssrsIn(BaseModel):
    """C-SSRS screener: Q1-Q5 about the past month, Q6 lifetime plus its past-3-months follow-up."""

    model_config = ConfigDict(extra="forbid")
    q1_wish_to_be_dead: bool
    q2_suicidal_thoughts: bool
    q3_thoughts_with_method: bool = False
    q4_intent: bool = False
    q5_plan_with_intent: bool = False
    q6_behaviour_lifetime: bool = False
    q6_behaviour_past_3_months: bool = False

    def to_screener(self) -> CssrsScreener:
        return CssrsScreener(
            self.q1_wish_to_be_dead,
            self.q2_suicidal_thoughts,
            self.q3_thoughts_with_method,
            self.q4_intent,
            self.q5_plan_with_intent,
            self.q6_behaviour_lifetime,
            self.q6_behaviour_past_3_months,
        )


class BloodPressure(BaseModel):
    """An intake BP reading; physiologically impossible values are refused."""

    model_config = ConfigDict(extra="forbid")
    systolic: int = Field(ge=60, le=300)
    diastolic: int = Field(ge=30, le=200)

    @model_validator(mode="after")
    def diastolic_below_systolic(self) -> Self:
        if self.diastolic >= self.systolic:
            raise ValueError(
                f"impossible blood pressure {self.systolic}/{self.diastolic}: "
                "diastolic must be below systolic"
            )
        return self


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, max_length=64)
    referral_source: str = Field(min_length=1, max_length=64)
    identity: IdentityIn
    payer: str = Field(default=DEFAULT_PAYER, min_length=1, max_length=64)
    medications: list[Medication] = Field(default_factory=list, max_length=50)
    antidepressant_trials: list[TrialIn] = Field(default_factory=list, max_length=30)
    conditions: list[Contraindication] = Field(default_factory=list, max_length=20)
    pregnancy_status: PregnancyStatus = PregnancyStatus.UNKNOWN
    intake_blood_pressure: BloodPressure | None = None
    phq9: list[Answer]
    gad7: list[Answer]
    cssrs: CssrsIn
    received_at: UtcDatetime | None = Field(
        default=None,
        description="When the referral reached the clinic (DESIGN: received_at); may be earlier "
        "than its entry, never in the future. Default: now. Charted times of the patient's "
        "treatment days may not precede it.",
    )

    @field_validator("phq9")
    @classmethod
    def nine_answers(cls, answers: list[int]) -> list[int]:
        return _answers(answers, 9, "PHQ-9")

    @field_validator("gad7")
    @classmethod
    def seven_answers(cls, answers: list[int]) -> list[int]:
        return _answers(answers, 7, "GAD-7")

    def to_domain(self, identity: SealedIdentity) -> Referral:
        """The referral with its identity sealed (`IdentityVault.seal`)."""
        bp = self.intake_blood_pressure
        return Referral(
            site_id=self.site_id,
            referral_source=self.referral_source,
            identity=identity,
            payer=self.payer,
            medications=tuple(self.medications),
            trials=tuple(
                Trial(drug=t.drug, adequate_dose=t.adequate_dose, weeks=t.weeks, outcome=t.outcome)
                for t in self.antidepressant_trials
            ),
            facts=SafetyFacts(
                conditions=frozenset(self.conditions),
                pregnancy=self.pregnancy_status,
                systolic=bp.systolic if bp else None,
                diastolic=bp.diastolic if bp else None,
            ),
            phq9=tuple(self.phq9),
            gad7=tuple(self.gad7),
            cssrs=self.cssrs.to_screener(),
            received_at=self.received_at,
        )


class ReferralOut(BaseModel):
    patient_id: str
    site_id: str
    phq9_total: int
    gad7_total: int
    open_risk_flags: list[str]
    interactions: list[str]
    blocking_contraindications: list[str] = Field(default_factory=list)
    coverage: dict[str, object] | None = None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000)


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


class MedicationsIn(BaseModel):
    """The patient's current medication list (replaces the previous one)."""

    model_config = ConfigDict(extra="forbid")
    medications: list[Medication] = Field(max_length=50)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: ConsentKind
    given: bool
    recorded_at: UtcDatetime | None = Field(
        default=None,
        description="When the consent was given, refused or withdrawn, for a late entry "
        "(DESIGN safety invariant 1). Default: now. Never in the future beyond clock skew nor "
        "before the referral's received_at (422). The ConsentRecorded event occurs at this "
        "time, and the session service evaluates consent at the charted time of each dose.",
    )


class EligibilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision
    protocol: Protocol | None = None
    modality: Modality | None = None
    planned_doses: int | None = Field(default=None, ge=1, le=52)
    reasons: list[Reason] = Field(default_factory=list, max_length=10)
    decided_at: UtcDatetime | None = Field(
        default=None,
        description="When the prescriber decided, for a late entry (DESIGN safety invariant "
        "1). Default: now. Never in the future beyond clock skew nor before the referral's "
        "received_at (422). The EligibilityDecided event occurs at this time, and treatment "
        "consent is checked as charted then and as it stands now.",
    )


class EligibilityOut(BaseModel):
    """The prescriber's decision as stored."""

    patient_id: str
    decision: Decision | None
    protocol: Protocol | None
    modality: Modality | None


class ErasureIn(BaseModel):
    """A privacy officer's erasure request; the reason stays in the intake record."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)
