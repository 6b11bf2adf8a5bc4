"""Coaching rule configuration: the follow-up plan, escalation and outcome thresholds."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoachingRules(BaseSettings):
    """Per-network follow-up plan and outcome thresholds (env prefix COACHING_).

    Sources, field by field:
    - plan (DESIGN "After treatment"): integration-session booking within 72 h, coach
      check-in at +24 h, lifestyle plan in week 1, PHQ-9 weekly during the course (induction)
      and monthly in maintenance.
    - escalation (DESIGN "Overdue tasks escalate (coach -> site lead)"): the grace period is
      network policy; one working day by default.
    - response >= 50 % PHQ-9 drop from baseline, remission PHQ-9 < 5 (DESIGN; Kroenke, Spitzer
      & Williams 2001; AIMS Center measurement-based care).
    - relapse: see `outcomes.is_worsening` (PHQ-9 >= 10, Kroenke 2001 / Manea 2012; a rise of
      >= 5 points, Löwe et al. 2004; confirmations as in SUSTAIN-1, Daly et al. 2019).
    - risk flag acknowledgement within 24 h, as intake's item-9 flag (DESIGN: item 9 > 0 during
      follow-up raises the flag again).
    - a missed integration session renews the booking request within the same window.
    """

    model_config = SettingsConfigDict(env_prefix="COACHING_", extra="ignore")

    integration_within_hours: float = Field(default=72.0, gt=0)
    check_in_after_hours: float = Field(default=24.0, gt=0)
    lifestyle_plan_days: float = Field(default=7.0, gt=0)
    phq9_course_days: float = Field(default=7.0, gt=0)
    phq9_maintenance_days: float = Field(default=30.0, gt=0)
    escalation_grace_hours: float = Field(default=24.0, ge=0)
    risk_flag_ack_hours: float = Field(default=24.0, gt=0)
    response_reduction_percent: int = Field(default=50, ge=1, le=100)
    remission_below: int = Field(default=5, ge=1, le=27)
    relapse_at_least: int = Field(default=10, ge=1, le=27)
    relapse_rise_points: int = Field(default=5, ge=1, le=27)
    relapse_confirmations: int = Field(default=1, ge=1, le=4)
    integration_rebook_within_hours: float = Field(default=72.0, gt=0)
    roster_config: str | None = Field(
        default=None, description="Path of the coach roster YAML (default config/coaching.yaml)."
    )
