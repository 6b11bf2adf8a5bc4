"""Treatment-day thresholds, per network (env prefix SESSION_), with the published defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.vocabulary import Protocol
from services.runtime.network import load_network


def default_dose_min_gap_days() -> dict[Protocol, int]:
    """The least `min_gap_days` scheduling books with in any phase of each protocol (its
    defaults: esketamine twice weekly >= 2 days, IV Mon/Wed/Fri >= 2 days, IM/sublingual/low-dose
    weekly >= 5 days), so the session never refuses a dose scheduling may legitimately book."""
    return {
        Protocol.ESKETAMINE_TRD: 2,
        Protocol.IV_KETAMINE_SERIES: 2,
        Protocol.IM_KETAMINE: 5,
        Protocol.SUBLINGUAL_LOZENGE: 5,
        Protocol.LOW_DOSE_KAP: 5,
    }


def default_site_time_zones() -> dict[str, str]:
    """Each site's time zone from the clinic network (config/network.yaml): dose gaps are
    counted in the site's calendar days, as scheduling books them."""
    return {site.site_id: site.time_zone for site in load_network().sites}


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
    pre_dose_bp_max_age_min: int = Field(
        default=60,
        ge=1,
        description="DESIGN safety invariant 3: a pre-dose BP within this many minutes of "
        "the dose.",
    )
    discharge_bp_max_age_min: int = Field(
        default=15,
        ge=1,
        description="DESIGN safety invariant 5: a BP within this many minutes before discharge.",
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
    dose_min_gap_days: dict[Protocol, Annotated[int, Field(ge=1, le=90)]] = Field(
        default_factory=default_dose_min_gap_days,
        description="DESIGN safety invariant 2: consecutive doses at least the protocol's "
        "minimum gap apart (the same min_gap_days scheduling books with). A protocol missing "
        "here falls back to the largest configured gap.",
    )
    site_time_zones: dict[str, str] = Field(
        default_factory=default_site_time_zones,
        description="Site time zones for counting dose gaps in calendar days; a site missing "
        "here counts whole 24-hour days, the stricter reading.",
    )

    def min_gap_days(self, protocol: Protocol) -> int:
        return self.dose_min_gap_days.get(protocol, max(self.dose_min_gap_days.values(), default=7))
