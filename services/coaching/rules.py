"""Coaching rule configuration: the follow-up plan and outcome thresholds, with safe defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoachingRules(BaseSettings):
    """Per-network follow-up plan and outcome thresholds (env prefix COACHING_).

    Defaults follow DESIGN "After treatment": integration booking within 72 h, coach
    check-in at +24 h, lifestyle plan in week 1, PHQ-9 weekly during the course and monthly
    in maintenance; response is a >= 50 % PHQ-9 reduction from baseline, remission PHQ-9 < 5.
    """

    model_config = SettingsConfigDict(env_prefix="COACHING_", extra="ignore")

    integration_within_hours: float = Field(default=72.0, gt=0)
    check_in_after_hours: float = Field(default=24.0, gt=0)
    lifestyle_plan_days: float = Field(default=7.0, gt=0)
    phq9_course_days: float = Field(default=7.0, gt=0)
    phq9_maintenance_days: float = Field(default=30.0, gt=0)
    risk_flag_ack_hours: float = Field(default=24.0, gt=0)
    response_reduction_percent: int = Field(default=50, ge=1, le=100)
    remission_below: int = Field(default=5, ge=1, le=27)
