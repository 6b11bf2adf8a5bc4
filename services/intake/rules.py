"""Intake rule configuration: thresholds and the medication interaction table."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.vocabulary import Interaction

INTERACTIONS: dict[Interaction, tuple[frozenset[str], str]] = {
    Interaction.LEVOTHYROXINE: (
        frozenset({"levothyroxine", "synthroid", "levoxyl", "euthyrox"}),
        "marked blood pressure and heart-rate rise: monitor BP and HR closely",
    ),
    Interaction.MAOI: (
        frozenset({"phenelzine", "tranylcypromine", "isocarboxazid", "selegiline"}),
        "closer blood pressure monitoring",
    ),
    Interaction.PSYCHOSTIMULANT: (
        frozenset(
            {
                "methylphenidate",
                "amphetamine",
                "dextroamphetamine",
                "lisdexamfetamine",
                "modafinil",
                "armodafinil",
            }
        ),
        "closer blood pressure monitoring",
    ),
    Interaction.CNS_DEPRESSANT: (
        frozenset(
            {
                "alprazolam",
                "lorazepam",
                "clonazepam",
                "diazepam",
                "zolpidem",
                "oxycodone",
                "hydrocodone",
                "gabapentin",
                "pregabalin",
            }
        ),
        "additive sedation: record on the REMS monitoring form",
    ),
    Interaction.CYP3A4_MODIFIER: (
        frozenset(
            {
                "ketoconazole",
                "itraconazole",
                "clarithromycin",
                "ritonavir",
                "rifampin",
                "carbamazepine",
                "phenytoin",
                "st johns wort",
            }
        ),
        "altered ketamine exposure: prescriber to review dose",
    ),
}
"""Interactions flagged at intake and carried to the treatment day (Spravato label section 7;
ketamine hydrochloride label; DESIGN: interactions)."""


class IntakeRules(BaseSettings):
    """Per-network thresholds (env prefix INTAKE_)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    trd_min_failed_trials: int = Field(default=2, ge=1)
    trd_min_trial_weeks: int = Field(default=6, ge=1)
    urgent_flag_ack_hours: float = Field(default=1.0, gt=0)
    high_flag_ack_hours: float = Field(default=24.0, gt=0)
