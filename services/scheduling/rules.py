"""Scheduling rule configuration: per-protocol dosing phases, slot lengths, windows, with
defaults from the cited sources; `config/scheduling.yaml` (`rules:`) overrides any of them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.scheduling import Frequency
from contracts.vocabulary import CoursePhase, Protocol
from services.scheduling.network import Weekday

Days = Annotated[int, Field(ge=1, le=90)]
Doses = Annotated[int, Field(ge=1, le=52)]
GRID_MINUTES = 15
"""Bookings start on a 15-minute grid; reservations are one document per grid slot."""
REMS_MONITORING_FLOOR_MINUTES = 120
"""Spravato REMS: patients are monitored for at least 2 hours after each esketamine dose."""


class PhasePlan(BaseModel):
    """One dosing phase. Either fixed weekdays (`weekdays`: one set per allowed pattern, each
    set as many days as doses per week) or a fixed `interval_days`. `doses` None = open-ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    phase: CoursePhase
    frequency: Frequency
    doses: Doses | None = None
    weekdays: tuple[tuple[Weekday, ...], ...] = ()
    interval_days: Days | None = None
    min_gap_days: int = Field(default=1, ge=1, le=14)

    @model_validator(mode="after")
    def _one_pattern(self) -> PhasePlan:
        if bool(self.weekdays) == bool(self.interval_days):
            raise ValueError("a phase has either weekdays or interval_days")
        return self


class ProtocolPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    planned_doses: Doses
    dose_minutes: int = Field(ge=30, le=480)
    """The whole dosing slot: check-in, dose, monitoring, debrief."""
    monitoring_minutes: int = Field(ge=0, le=480)
    rems_required: bool = False
    phases: tuple[PhasePlan, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _slot_holds_monitoring(self) -> ProtocolPlan:
        if self.dose_minutes < self.monitoring_minutes:
            raise ValueError("a dosing slot cannot be shorter than its monitoring time")
        if self.rems_required and self.monitoring_minutes < REMS_MONITORING_FLOOR_MINUTES:
            raise ValueError("REMS protocols monitor for at least 120 minutes")
        return self

    def previous_frequency(self, frequency: Frequency) -> Frequency | None:
        """The frequency before `frequency` in this protocol (for returning to it)."""
        frequencies = [p.frequency for p in self.phases]
        if frequency not in frequencies or frequencies.index(frequency) == 0:
            return None
        return frequencies[frequencies.index(frequency) - 1]


def _esketamine() -> ProtocolPlan:
    """Spravato PI (Dosage and Administration): induction weeks 1-4 twice weekly, weeks 5-8
    once weekly, from week 9 every 2 weeks or weekly (here every 2 weeks, the least frequent
    interval). REMS: administered only in certified settings, >= 2 h monitoring after dose;
    150 min slot = 30 min check-in/dose + 120 min monitoring. Twice weekly is booked on fixed
    weekday pairs (Mon/Thu or Tue/Fri) so every week really holds two doses >= 2 days apart.
    The default planned course is the 8-dose induction; prescribers plan more explicitly."""
    return ProtocolPlan(
        planned_doses=8,
        dose_minutes=150,
        monitoring_minutes=120,
        rems_required=True,
        phases=(
            PhasePlan(
                phase=CoursePhase.INDUCTION,
                frequency="twice_weekly",
                doses=8,
                weekdays=((Weekday.MON, Weekday.THU), (Weekday.TUE, Weekday.FRI)),
                min_gap_days=2,
            ),
            PhasePlan(
                phase=CoursePhase.MAINTENANCE,
                frequency="weekly",
                doses=4,
                interval_days=7,
                min_gap_days=5,
            ),
            PhasePlan(
                phase=CoursePhase.MAINTENANCE,
                frequency="every_2_weeks",
                interval_days=14,
                min_gap_days=7,
            ),
        ),
    )


def _iv() -> ProtocolPlan:
    """Published IV-ketamine protocols: 0.5 mg/kg over 40 min, an acute series of 6 infusions
    over 2-3 weeks (Mon/Wed/Fri, >= 48 h apart); DESIGN treatment day: 60 min monitoring after
    the infusion. 120 min slot = 20 min check-in + 40 min infusion + 60 min monitoring."""
    return ProtocolPlan(
        planned_doses=6,
        dose_minutes=120,
        monitoring_minutes=60,
        phases=(
            PhasePlan(
                phase=CoursePhase.INDUCTION,
                frequency="thrice_weekly",
                doses=6,
                weekdays=((Weekday.MON, Weekday.WED, Weekday.FRI),),
                min_gap_days=2,
            ),
            PhasePlan(
                phase=CoursePhase.MAINTENANCE,
                frequency="every_4_weeks",
                interval_days=28,
                min_gap_days=14,
            ),
        ),
    )


def _weekly(doses: int) -> ProtocolPlan:
    """IM, sublingual and low-dose KAP: DESIGN 'configurable schedules'; default weekly."""
    return ProtocolPlan(
        planned_doses=doses,
        dose_minutes=120,
        monitoring_minutes=60,
        phases=(
            PhasePlan(
                phase=CoursePhase.INDUCTION,
                frequency="weekly",
                doses=doses,
                interval_days=7,
                min_gap_days=5,
            ),
            PhasePlan(
                phase=CoursePhase.MAINTENANCE,
                frequency="every_2_weeks",
                interval_days=14,
                min_gap_days=7,
            ),
        ),
    )


def default_protocols() -> dict[Protocol, ProtocolPlan]:
    return {
        Protocol.ESKETAMINE_TRD: _esketamine(),
        Protocol.IV_KETAMINE_SERIES: _iv(),
        Protocol.IM_KETAMINE: _weekly(4),
        Protocol.SUBLINGUAL_LOZENGE: _weekly(4),
        Protocol.LOW_DOSE_KAP: _weekly(4),
    }


class SchedulingRules(BaseModel):
    """Per-network scheduling rules. Sources: DESIGN 'The patient journey' (preparation before
    the first treatment day, integration after each), 'After treatment' (integration within
    72 h), and the protocol docstrings above."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    preparation_minutes: int = Field(default=60, ge=15, le=240)
    preparation_lead_days: int = Field(default=1, ge=0, le=30)
    """Earliest preparation session: this many days after the approval."""
    first_dose_days_after_preparation: int = Field(default=1, ge=1, le=30)
    integration_minutes: int = Field(default=60, ge=15, le=240)
    integration_min_hours_after_dose: int = Field(default=12, ge=0, le=72)
    integration_within_hours: int = Field(default=72, ge=12, le=336)
    """DESIGN 'After treatment': integration session booking within 72 h of each dose."""
    booster_within_days: int = Field(default=14, ge=1, le=60)
    """RelapseSuspected: the booster is proposed at the first free dosing slot in this window."""
    placement_search_days: int = Field(default=14, ge=1, le=60)
    """How far past its target a dose may move when its week is closed or full."""
    orphan_grace_minutes: int = Field(default=5, ge=1, le=120)
    """Reservations of a booking that never committed are released after this grace."""
    protocols: dict[Protocol, ProtocolPlan] = Field(default_factory=default_protocols)

    @model_validator(mode="after")
    def _every_protocol(self) -> SchedulingRules:
        merged = {**default_protocols(), **self.protocols}
        object.__setattr__(self, "protocols", merged)
        return self

    def plan(self, protocol: Protocol) -> ProtocolPlan:
        return self.protocols[protocol]
