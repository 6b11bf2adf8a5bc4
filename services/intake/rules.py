"""Intake rule configuration: thresholds, and the safety and interaction rule tables.

The tables are data: each row names what it detects, how, and the source it comes from. The
domain evaluates every row the same way, so adding a rule never adds a branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.intake import Contraindication
from contracts.vocabulary import Interaction, Modality, Protocol

DEFAULT_PAYERS = Path(__file__).resolve().parents[2] / "config" / "payers.yaml"


class IntakeRules(BaseSettings):
    """Per-network thresholds (env prefix INTAKE_); every default is the DESIGN default."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    trd_min_failed_trials: int = Field(default=2, ge=1)
    trd_min_trial_weeks: int = Field(default=6, ge=1)
    trd_inadequate_outcomes: frozenset[str] = frozenset({"failed", "partial"})
    urgent_flag_ack_hours: float = Field(default=1.0, gt=0)
    high_flag_ack_hours: float = Field(default=24.0, gt=0)
    uncontrolled_systolic_above: int = Field(default=140, ge=100, le=250)
    uncontrolled_diastolic_above: int = Field(default=90, ge=50, le=150)
    exclusions: frozenset[Contraindication] = frozenset(
        {
            Contraindication.PSYCHOSIS,
            Contraindication.PREGNANCY,
            Contraindication.SUBSTANCE_USE_DISORDER,
        }
    )
    payers_config: Path = DEFAULT_PAYERS
    clock_skew_minutes: float = Field(
        default=5.0, ge=0, description="How far a charted time may lie ahead of the clock."
    )


class PregnancyStatus(StrEnum):
    PREGNANT = "pregnant"
    NOT_PREGNANT = "not_pregnant"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class SafetyFacts(BaseModel):
    """What the safety rules look at: reported conditions, pregnancy status, intake BP."""

    model_config = ConfigDict(frozen=True)
    conditions: frozenset[Contraindication] = frozenset()
    pregnancy: PregnancyStatus = PregnancyStatus.UNKNOWN
    systolic: int | None = None
    diastolic: int | None = None


Predicate = Callable[[SafetyFacts, IntakeRules], bool]


def reported(condition: Contraindication) -> Predicate:
    """The referral lists the condition (history taken by the intake coordinator)."""

    def matches(facts: SafetyFacts, _rules: IntakeRules) -> bool:
        return condition in facts.conditions

    return matches


def pregnant(facts: SafetyFacts, _rules: IntakeRules) -> bool:
    """Pregnancy reported as a status or a condition (Spravato label 8.1: may cause fetal
    harm; most KAP programs exclude pregnancy - DESIGN: exclusions)."""
    return facts.pregnancy is PregnancyStatus.PREGNANT or (
        Contraindication.PREGNANCY in facts.conditions
    )


def blood_pressure_uncontrolled(facts: SafetyFacts, rules: IntakeRules) -> bool:
    """Uncontrolled hypertension: reported, or intake BP above 140/90 (Spravato label, Warnings,
    increase in blood pressure:
    'as a general guide, >140/90 mmHg' consider the risk of BP increases; ketamine label:
    contraindicated where a significant BP elevation would be a serious hazard)."""
    above = (facts.systolic or 0) > rules.uncontrolled_systolic_above or (
        facts.diastolic or 0
    ) > rules.uncontrolled_diastolic_above
    return above or Contraindication.UNCONTROLLED_HYPERTENSION in facts.conditions


@dataclass(frozen=True)
class SafetyRule:
    """One row: a label `contraindication` always blocks; a program `exclusion` blocks only
    while it is listed in `IntakeRules.exclusions` (otherwise it is shown, not blocking)."""

    contraindication: Contraindication
    category: Literal["contraindication", "exclusion"]
    matches: Predicate
    source: str

    def blocking(self, rules: IntakeRules) -> bool:
        return self.category == "contraindication" or self.contraindication in rules.exclusions


C = Contraindication
SAFETY_RULES: tuple[SafetyRule, ...] = (
    SafetyRule(C.ANEURYSMAL_VASCULAR_DISEASE, "contraindication",
               reported(C.ANEURYSMAL_VASCULAR_DISEASE),
               "Spravato label 4: aneurysmal vascular disease (aorta, intracranial, peripheral)"),
    SafetyRule(C.ARTERIOVENOUS_MALFORMATION, "contraindication",
               reported(C.ARTERIOVENOUS_MALFORMATION),
               "Spravato label 4: arteriovenous malformation"),
    SafetyRule(C.INTRACEREBRAL_HAEMORRHAGE, "contraindication",
               reported(C.INTRACEREBRAL_HAEMORRHAGE),
               "Spravato label 4: history of intracerebral hemorrhage"),
    SafetyRule(C.HYPERSENSITIVITY, "contraindication", reported(C.HYPERSENSITIVITY),
               "Spravato label 4 / ketamine label: hypersensitivity to (es)ketamine"),
    SafetyRule(C.UNCONTROLLED_HYPERTENSION, "contraindication", blood_pressure_uncontrolled,
               "Spravato label Warnings: BP increase (>140/90 guide); ketamine label; DESIGN"),
    SafetyRule(C.PSYCHOSIS, "exclusion", reported(C.PSYCHOSIS),
               "KAP program exclusion (ketamine may worsen psychosis); DESIGN"),
    SafetyRule(C.PREGNANCY, "exclusion", pregnant,
               "Spravato label 8.1 (fetal harm); KAP program exclusion; DESIGN"),
    SafetyRule(C.SUBSTANCE_USE_DISORDER, "exclusion", reported(C.SUBSTANCE_USE_DISORDER),
               "Spravato label Warnings: abuse and misuse; KAP program exclusion; DESIGN"),
)  # fmt: skip
"""Contraindications block approval until a prescriber overrides them with a reason
(DESIGN: contraindications). The list is exhaustive and evaluated row by row."""


@dataclass(frozen=True)
class InteractionRule:
    interaction: Interaction
    medications: frozenset[str]
    monitoring: str
    source: str


INTERACTION_RULES: tuple[InteractionRule, ...] = (
    InteractionRule(
        Interaction.LEVOTHYROXINE,
        frozenset({"levothyroxine", "synthroid", "levoxyl", "euthyrox"}),
        "marked blood pressure and heart-rate rise: monitor BP and HR closely",
        "DESIGN: marked BP and heart-rate rise; ketamine label: thyroid hormones",
    ),
    InteractionRule(
        Interaction.MAOI,
        frozenset({"phenelzine", "tranylcypromine", "isocarboxazid", "selegiline"}),
        "closer blood pressure monitoring",
        "Spravato label 7.3 (MAOIs may increase blood pressure)",
    ),
    InteractionRule(
        Interaction.PSYCHOSTIMULANT,
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
        "Spravato label 7.2 (psychostimulants may increase blood pressure)",
    ),
    InteractionRule(
        Interaction.CNS_DEPRESSANT,
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
        "Spravato label 7.1 (CNS depressants increase sedation); REMS monitoring form",
    ),
    InteractionRule(
        Interaction.CYP3A4_MODIFIER,
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
        "ketamine label 12.3 (CYP3A4 metabolism: inhibitors/inducers alter exposure)",
    ),
)
"""Interactions flagged at intake and on medication updates, carried to the treatment day
(DESIGN: interactions). Medication names are matched case-insensitively."""

PROTOCOL_MODALITIES: dict[Protocol, tuple[Modality, ...]] = {
    Protocol.ESKETAMINE_TRD: (Modality.INTRANASAL,),
    Protocol.IV_KETAMINE_SERIES: (Modality.INTRAVENOUS,),
    Protocol.IM_KETAMINE: (Modality.INTRAMUSCULAR,),
    Protocol.SUBLINGUAL_LOZENGE: (Modality.SUBLINGUAL,),
    Protocol.LOW_DOSE_KAP: (Modality.SUBLINGUAL, Modality.INTRAMUSCULAR),
}
"""Which modalities each protocol allows; the first is the default (DESIGN: protocols)."""
