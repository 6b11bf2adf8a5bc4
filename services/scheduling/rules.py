"""Scheduling rule configuration: slot lengths and dose cadence per protocol, with safe defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.vocabulary import Protocol

Days = Annotated[int, Field(ge=1, le=90)]
Doses = Annotated[int, Field(ge=1, le=52)]


class Cadence(BaseModel):
    """How one protocol's doses are counted, spaced and how long a dosing slot lasts."""

    model_config = ConfigDict(frozen=True)
    default_doses: Doses
    induction_doses: Doses
    slot_minutes: int
    induction_gaps: tuple[Days, ...] = Field(min_length=1)
    gaps_in_business_days: bool
    maintenance_gap_days: Days


class SchedulingRules(BaseSettings):
    """Per-network scheduling defaults (env prefix SCHEDULING_; tuples as JSON, e.g. "[3,4]").

    Sources: Spravato (esketamine) prescribing information (Dosage and Administration) and the REMS;
    published IV-ketamine protocols (0.5 mg/kg over 40 min, acute series of 6 infusions over
    2-3 weeks); DESIGN.md "Protocols" and "Treatment day".
    """

    model_config = SettingsConfigDict(env_prefix="SCHEDULING_", extra="ignore")

    preparation_hour: int = Field(default=10, ge=6, le=20)
    preparation_minutes: int = Field(default=60, ge=15, le=240)
    dosing_hour: int = Field(default=9, ge=6, le=20)
    first_dose_business_days_after_preparation: int = Field(default=2, ge=1, le=20)

    esketamine_planned_doses: Doses = 8
    """Induction weeks 1-4 twice weekly = 8 doses (Spravato PI, Dosage and Administration)."""
    esketamine_induction_doses: Doses = 8
    esketamine_slot_minutes: int = Field(default=150, ge=120, le=480)
    """>= 2 h post-dose monitoring (Spravato PI, Dosage and Administration; REMS) + 30 min
    check-in and debrief; a slot shorter than the REMS monitoring time cannot be configured."""
    esketamine_induction_gaps_days: tuple[Days, ...] = Field(default=(3, 4), min_length=1)
    """Twice weekly, alternating 3 and 4 days (a Monday/Thursday-like cadence)."""
    esketamine_maintenance_gap_days: Days = 7
    """Weeks 5-8 once weekly (Spravato PI, Dosage and Administration); from week 9 the
    prescriber sets weekly or every 2 weeks."""

    iv_planned_doses: Doses = 6
    """Acute series of 6 infusions over 2-3 weeks (published IV-ketamine protocols)."""
    iv_induction_doses: Doses = 6
    iv_slot_minutes: int = Field(default=120, ge=60, le=480)
    """40 min infusion + 60 min monitoring (DESIGN default) + 20 min check-in and debrief."""
    iv_induction_gap_business_days: Days = 2
    iv_maintenance_gap_days: Days = 14

    other_planned_doses: Doses = 4
    other_induction_doses: Doses = 4
    other_slot_minutes: int = Field(default=120, ge=60, le=480)
    other_induction_gap_days: Days = 7
    other_maintenance_gap_days: Days = 14

    def cadence(self, protocol: Protocol) -> Cadence:
        if protocol is Protocol.ESKETAMINE_TRD:
            return Cadence(
                default_doses=self.esketamine_planned_doses,
                induction_doses=self.esketamine_induction_doses,
                slot_minutes=self.esketamine_slot_minutes,
                induction_gaps=self.esketamine_induction_gaps_days,
                gaps_in_business_days=False,
                maintenance_gap_days=self.esketamine_maintenance_gap_days,
            )
        if protocol is Protocol.IV_KETAMINE_SERIES:
            return Cadence(
                default_doses=self.iv_planned_doses,
                induction_doses=self.iv_induction_doses,
                slot_minutes=self.iv_slot_minutes,
                induction_gaps=(self.iv_induction_gap_business_days,),
                gaps_in_business_days=True,
                maintenance_gap_days=self.iv_maintenance_gap_days,
            )
        return Cadence(
            default_doses=self.other_planned_doses,
            induction_doses=self.other_induction_doses,
            slot_minutes=self.other_slot_minutes,
            induction_gaps=(self.other_induction_gap_days,),
            gaps_in_business_days=False,
            maintenance_gap_days=self.other_maintenance_gap_days,
        )
