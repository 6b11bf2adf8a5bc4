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
    esketamine_device_mg: float = Field(
        default=28.0, gt=0, description="Spravato label: each nasal spray device delivers 28 mg."
    )
    esketamine_device_interval_min: int = Field(
        default=5, ge=0, description="Spravato label: wait 5 minutes between devices."
    )
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
    bp_recheck_min: int = Field(
        default=40, ge=1, description="Spravato label: recheck blood pressure ~40 min after dose."
    )
    bp_recheck_early_min: int = Field(
        default=10, ge=0, description="A post-dose reading this much before the recheck counts."
    )
    bp_recheck_grace_min: int = Field(
        default=15, ge=0, description="The recheck is overdue this long after it was due."
    )
    serious_ae_acknowledge_hours: float = Field(
        default=1.0,
        gt=0,
        description="DESIGN: a serious adverse event raises an urgent risk flag for the "
        "prescriber; urgent flags are acknowledged within an hour (as intake's).",
    )
    severe_adverse_event_is_serious: bool = Field(
        default=True,
        description="Count a severe adverse event as serious (risk flag, prescriber notified) "
        "even when not charted as regulatory-serious: the conservative default.",
    )
    monitoring_form_days: int = Field(
        default=7, ge=1, description="Spravato REMS: Patient Monitoring Form within 7 days."
    )
    monitoring_form_protocols: list[Protocol] = Field(default=[Protocol.ESKETAMINE_TRD])
    observed_at_future_tolerance_min: int = Field(default=2, ge=0)
