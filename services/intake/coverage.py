"""Treatment resistance and the coverage pathway under a payer's rule (config/payers.yaml)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contracts.vocabulary import CoveragePathway, Protocol

DEFAULT_PAYER = "default"


class Trial(BaseModel):
    model_config = ConfigDict(frozen=True)
    drug: str
    adequate_dose: bool
    weeks: int
    outcome: str


class PayerRule(BaseModel):
    """A payer's TRD definition and pathways. Defaults are DESIGN's coverage default: >= 2
    failed trials of adequate dose and >= 6 weeks; esketamine for TRD covered; IV ketamine
    off-label, partially covered or reimbursed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    description: str = ""
    trd_min_failed_trials: int = Field(default=2, ge=1)
    trd_min_trial_weeks: int = Field(default=6, ge=1)
    min_phq9_total: int = Field(default=0, ge=0, le=27)
    esketamine_covered: bool = True
    iv_ketamine: CoveragePathway = CoveragePathway.IV_PARTIAL_OR_REIMBURSEMENT


class Payers(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    payers: dict[str, PayerRule] = Field(default_factory=lambda: {DEFAULT_PAYER: PayerRule()})

    def rule(self, payer: str) -> PayerRule:
        return self.payers.get(payer) or self.payers.get(DEFAULT_PAYER) or PayerRule()


@lru_cache(maxsize=4)
def load_payers(path: Path) -> Payers:
    """The payer rules file; a missing file means DESIGN's default rule only."""
    if not path.exists():
        return Payers()
    return Payers.model_validate(yaml.safe_load(path.read_text()))


class Coverage(BaseModel):
    model_config = ConfigDict(frozen=True)
    payer: str
    adequate_failed_trials: int
    treatment_resistant: bool
    esketamine: CoveragePathway
    iv_ketamine: CoveragePathway
    reasons: tuple[str, ...]


def adequate_failed_trials(
    trials: Iterable[Trial], min_weeks: int, inadequate_outcomes: frozenset[str]
) -> int:
    """Treatment resistance counts trials of adequate dose and duration (>= 6 weeks by
    default) with an inadequate response in the current episode (Spravato label indication:
    'inadequate response to at least two antidepressants'; payer TRD definitions; DESIGN)."""
    return sum(
        t.adequate_dose and t.weeks >= min_weeks and t.outcome in inadequate_outcomes
        for t in trials
    )


def assess(
    payer: str,
    rule: PayerRule,
    trials: Iterable[Trial],
    phq9_total: int,
    inadequate_outcomes: frozenset[str],
) -> Coverage:
    """Esketamine (Spravato) for TRD is usually covered; IV ketamine is off-label, partially
    covered or reimbursed; otherwise self-pay (DESIGN: coverage pathway; payer rule)."""
    count = adequate_failed_trials(trials, rule.trd_min_trial_weeks, inadequate_outcomes)
    trd = count >= rule.trd_min_failed_trials
    severe_enough = phq9_total >= rule.min_phq9_total
    reasons = [
        f"adequate failed trials {count} {'>=' if trd else '<'} {rule.trd_min_failed_trials}"
        f" of >= {rule.trd_min_trial_weeks} weeks",
    ]
    if rule.min_phq9_total:
        reasons.append(
            f"phq9 total {phq9_total} {'>=' if severe_enough else '<'} {rule.min_phq9_total}"
        )
    covered = rule.esketamine_covered and trd and severe_enough
    if not rule.esketamine_covered:
        reasons.append("payer does not cover esketamine")
    reasons.append(f"iv ketamine: {rule.iv_ketamine.value}")
    return Coverage(
        payer=payer,
        adequate_failed_trials=count,
        treatment_resistant=trd,
        esketamine=CoveragePathway.ESKETAMINE_COVERED if covered else CoveragePathway.SELF_PAY,
        iv_ketamine=rule.iv_ketamine,
        reasons=tuple(reasons),
    )


def pathway_for(protocol: Protocol, coverage: Coverage) -> tuple[CoveragePathway, list[str]]:
    """The pathway of the chosen protocol; IM, lozenge and low-dose KAP are off-label and
    self-pay unless a payer rule says otherwise (DESIGN: coverage pathway)."""
    pathways = {
        Protocol.ESKETAMINE_TRD: coverage.esketamine,
        Protocol.IV_KETAMINE_SERIES: coverage.iv_ketamine,
    }
    pathway = pathways.get(protocol, CoveragePathway.SELF_PAY)
    reasons = [f"payer {coverage.payer}"[:64], *coverage.reasons]
    if protocol not in pathways:
        reasons.append(f"{protocol.value} is off-label: self-pay")
    return pathway, reasons
