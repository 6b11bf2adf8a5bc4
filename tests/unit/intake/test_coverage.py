"""Treatment resistance and the coverage pathway under the default and stricter payer rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.vocabulary import CoveragePathway, Protocol
from services.intake.coverage import (
    DEFAULT_PAYER,
    PayerRule,
    Trial,
    adequate_failed_trials,
    assess,
    load_payers,
    pathway_for,
)
from services.intake.rules import DEFAULT_PAYERS

INADEQUATE = frozenset({"failed", "partial"})
COVERED, IV, SELF = (
    CoveragePathway.ESKETAMINE_COVERED,
    CoveragePathway.IV_PARTIAL_OR_REIMBURSEMENT,
    CoveragePathway.SELF_PAY,
)


def trial(weeks: int = 8, adequate: bool = True, outcome: str = "failed") -> Trial:
    return Trial(drug="x", adequate_dose=adequate, weeks=weeks, outcome=outcome)


@pytest.mark.parametrize(
    ("trials", "count"),
    [
        ([trial(6), trial(6)], 2),
        ([trial(5), trial(6)], 1),
        ([trial(adequate=False), trial()], 1),
        ([trial(outcome="partial"), trial()], 2),
        ([trial(outcome="responded"), trial(outcome="not_tolerated")], 0),
        ([], 0),
    ],
)
def test_only_adequate_trials_of_six_weeks_with_inadequate_response_count(
    trials: list[Trial], count: int
) -> None:
    assert adequate_failed_trials(trials, 6, INADEQUATE) == count


def test_the_payers_file_has_the_default_and_a_stricter_rule() -> None:
    payers = load_payers(DEFAULT_PAYERS)
    default, strict = payers.payers[DEFAULT_PAYER], payers.payers["strict-commercial"]
    assert (default.trd_min_failed_trials, default.trd_min_trial_weeks) == (2, 6)
    assert strict.trd_min_failed_trials > default.trd_min_failed_trials
    assert strict.trd_min_trial_weeks > default.trd_min_trial_weeks
    assert load_payers(Path("/nonexistent.yaml")).rule("anyone") == PayerRule()


@pytest.mark.parametrize(
    ("trials", "esketamine"), [([trial(), trial()], COVERED), ([trial()], SELF)]
)
def test_default_payer_covers_esketamine_at_two_failed_trials(
    trials: list[Trial], esketamine: CoveragePathway
) -> None:
    coverage = assess(DEFAULT_PAYER, PayerRule(), trials, 18, INADEQUATE)
    assert coverage.esketamine is esketamine
    assert coverage.iv_ketamine is IV
    assert coverage.reasons[0].startswith(f"adequate failed trials {len(trials)}")


def test_the_strict_payer_needs_three_eight_week_trials_and_phq9_15() -> None:
    strict = load_payers(DEFAULT_PAYERS).rule("strict-commercial")
    two = assess("strict-commercial", strict, [trial(8), trial(8)], 20, INADEQUATE)
    three_mild = assess("strict-commercial", strict, [trial(8)] * 3, 14, INADEQUATE)
    three_severe = assess("strict-commercial", strict, [trial(8)] * 3, 15, INADEQUATE)
    assert (two.treatment_resistant, two.esketamine) == (False, SELF)
    assert (three_mild.treatment_resistant, three_mild.esketamine) == (True, SELF)
    assert "phq9 total 14 < 15" in three_mild.reasons
    assert three_severe.esketamine is COVERED
    assert three_severe.iv_ketamine is SELF


@pytest.mark.parametrize(
    ("protocol", "pathway"),
    [
        (Protocol.ESKETAMINE_TRD, COVERED),
        (Protocol.IV_KETAMINE_SERIES, IV),
        (Protocol.IM_KETAMINE, SELF),
        (Protocol.SUBLINGUAL_LOZENGE, SELF),
        (Protocol.LOW_DOSE_KAP, SELF),
    ],
)
def test_the_chosen_protocol_selects_the_pathway(
    protocol: Protocol, pathway: CoveragePathway
) -> None:
    coverage = assess(DEFAULT_PAYER, PayerRule(), [trial(), trial()], 18, INADEQUATE)
    chosen, reasons = pathway_for(protocol, coverage)
    assert chosen is pathway
    assert reasons[0] == "payer default"
    assert all(len(r) <= 64 for r in reasons)
