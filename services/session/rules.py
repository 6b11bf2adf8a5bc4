"""Treatment-day thresholds, per network (env prefix SESSION_), with the published defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.vocabulary import Protocol


class SessionRules(BaseSettings):
    """Defaults come from the Spravato label and REMS, and the published IV-ketamine protocol
    (DESIGN: protocols, treatment day); a network overrides them through the environment."""

    model_config = SettingsConfigDict(env_prefix="SESSION_", extra="ignore")

    bp_systolic_max: int = Field(default=140, ge=90, le=220)
    bp_diastolic_max: int = Field(default=90, ge=50, le=140)
    esketamine_doses_mg: list[float] = Field(default=[56.0, 84.0], min_length=1)
    esketamine_first_dose_mg: float = Field(default=56.0, gt=0)
    esketamine_monitoring_min: int = Field(default=120, ge=0)
    iv_mg_per_kg: float = Field(default=0.5, gt=0)
    iv_dose_tolerance: float = Field(default=0.05, ge=0, lt=1)
    iv_infusion_min: int = Field(default=40, ge=0)
    iv_monitoring_after_infusion_min: int = Field(default=60, ge=0)
    other_monitoring_min: int = Field(
        default=120,
        ge=0,
        description="IM, sublingual and low-dose KAP have no published floor here: the "
        "esketamine REMS minimum is the conservative default until a clinic configures one.",
    )
    monitoring_form_days: int = Field(default=7, ge=1)
    monitoring_form_protocols: list[Protocol] = Field(default=[Protocol.ESKETAMINE_TRD])
    observed_at_future_tolerance_min: int = Field(default=2, ge=0)
