"""Intake's HTTP request and response models: shape and range checks only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.intake import Identity
from contracts.vocabulary import ConsentKind, Decision, Modality, Protocol
from services.intake.domain import Referral, Trial
from services.intake.scoring import CssrsScreener

Answer = Annotated[int, Field(ge=0, le=3)]


class TrialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drug: str = Field(min_length=1, max_length=64)
    adequate_dose: bool
    weeks: int = Field(ge=0, le=520)
    outcome: str = Field(pattern="^(failed|partial|responded|not_tolerated)$")


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


class BloodPressure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systolic: int = Field(ge=60, le=300)
    diastolic: int = Field(ge=30, le=200)


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, max_length=64)
    referral_source: str = Field(min_length=1, max_length=64)
    identity: Identity
    medications: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=50)
    antidepressant_trials: list[TrialIn] = Field(default_factory=list, max_length=30)
    intake_blood_pressure: BloodPressure | None = None
    phq9: list[Answer] = Field(min_length=9, max_length=9)
    gad7: list[Answer] = Field(min_length=7, max_length=7)
    cssrs: CssrsIn

    @field_validator("identity")
    @classmethod
    def born_in_the_past(cls, identity: Identity) -> Identity:
        if identity.date_of_birth >= datetime.now(UTC).date():
            raise ValueError("date_of_birth must be in the past")
        return identity

    def to_domain(self) -> Referral:
        c = self.cssrs
        return Referral(
            site_id=self.site_id,
            referral_source=self.referral_source,
            identity=self.identity,
            medications=tuple(self.medications),
            trials=tuple(
                Trial(
                    drug=t.drug,
                    adequate_dose=t.adequate_dose,
                    weeks=t.weeks,
                    failed=t.outcome == "failed",
                )
                for t in self.antidepressant_trials
            ),
            phq9=tuple(self.phq9),
            gad7=tuple(self.gad7),
            cssrs=CssrsScreener(
                c.q1_wish_to_be_dead,
                c.q2_suicidal_thoughts,
                c.q3_thoughts_with_method,
                c.q4_intent,
                c.q5_plan_with_intent,
                c.q6_behaviour_lifetime,
                c.q6_behaviour_past_3_months,
            ),
        )


class ReferralOut(BaseModel):
    patient_id: str
    site_id: str
    phq9_total: int
    gad7_total: int
    open_risk_flags: list[str]
    interactions: list[str]


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: ConsentKind
    given: bool


class EligibilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision
    protocol: Protocol | None = None
    modality: Modality | None = None
    planned_doses: int | None = Field(default=None, ge=1, le=52)
