"""PHQ-9, GAD-7 and C-SSRS scoring: every band boundary, and invariants by property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.vocabulary import CssrsRisk, Gad7Band, Phq9Band, RiskKind, RiskSeverity
from services.intake.domain import risk_flag
from services.intake.rules import IntakeRules
from services.intake.scoring import CssrsScreener, cssrs_risk, gad7_band, phq9_band
from tests.unit.intake.builders import refer

P, G = Phq9Band, Gad7Band


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, P.MINIMAL), (4, P.MINIMAL), (5, P.MILD), (9, P.MILD), (10, P.MODERATE),
     (14, P.MODERATE), (15, P.MODERATELY_SEVERE), (19, P.MODERATELY_SEVERE),
     (20, P.SEVERE), (27, P.SEVERE)],
)  # fmt: skip
def test_phq9_band_boundaries(total: int, band: Phq9Band) -> None:
    assert phq9_band(total) is band


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, G.MINIMAL), (4, G.MINIMAL), (5, G.MILD), (9, G.MILD), (10, G.MODERATE),
     (14, G.MODERATE), (15, G.SEVERE), (21, G.SEVERE)],
)  # fmt: skip
def test_gad7_band_boundaries(total: int, band: Gad7Band) -> None:
    assert gad7_band(total) is band


def screener(**yes: bool) -> CssrsScreener:
    fields = ("wish_to_be_dead", "suicidal_thoughts", "thoughts_with_method", "intent",
              "plan_with_intent", "behaviour_lifetime", "behaviour_past_3_months")  # fmt: skip
    return CssrsScreener(**{f: yes.get(f, False) for f in fields})


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        ({}, CssrsRisk.LOW),
        ({"wish_to_be_dead": True, "suicidal_thoughts": True}, CssrsRisk.LOW),
        ({"thoughts_with_method": True}, CssrsRisk.MODERATE),
        ({"behaviour_lifetime": True}, CssrsRisk.MODERATE),
        ({"intent": True}, CssrsRisk.HIGH),
        ({"plan_with_intent": True}, CssrsRisk.HIGH),
        ({"behaviour_lifetime": True, "behaviour_past_3_months": True}, CssrsRisk.HIGH),
    ],
)
def test_cssrs_risk_levels(answers: dict[str, bool], risk: CssrsRisk) -> None:
    assert cssrs_risk(screener(**answers)) is risk


@pytest.mark.parametrize(
    ("item9", "risk", "expected"),
    [
        (0, CssrsRisk.LOW, None),
        (0, CssrsRisk.MODERATE, None),
        (1, CssrsRisk.LOW, (RiskKind.PHQ9_ITEM9, RiskSeverity.HIGH, 24.0)),
        (3, CssrsRisk.MODERATE, (RiskKind.PHQ9_ITEM9, RiskSeverity.HIGH, 24.0)),
        (0, CssrsRisk.HIGH, (RiskKind.CSSRS_HIGH, RiskSeverity.URGENT, 1.0)),
        (2, CssrsRisk.HIGH, (RiskKind.CSSRS_HIGH, RiskSeverity.URGENT, 1.0)),
    ],
)
def test_item9_above_zero_or_high_cssrs_raises_a_flag_with_its_deadline(
    item9: int, risk: CssrsRisk, expected: object
) -> None:
    assert risk_flag(item9, risk, IntakeRules()) == expected


PHQ9 = st.lists(st.integers(0, 3), min_size=9, max_size=9)
GAD7 = st.lists(st.integers(0, 3), min_size=7, max_size=7)
BOOLS = st.lists(st.booleans(), min_size=7, max_size=7)


@given(phq9=PHQ9, gad7=GAD7)
def test_totals_are_sums_within_range_and_bands_agree(phq9: list[int], gad7: list[int]) -> None:
    record, events = refer(phq9=phq9, gad7=gad7)
    scored = next(e for e in events if e.event_type == "ScreeningScored")
    assert scored.model_dump()["phq9_total"] == sum(phq9) == record.phq9_total
    assert 0 <= record.phq9_total <= 27
    assert 0 <= record.gad7_total <= 21
    assert scored.model_dump()["phq9_band"] is phq9_band(sum(phq9))
    assert scored.model_dump()["gad7_band"] is gad7_band(sum(gad7))


@given(a=st.integers(0, 27), b=st.integers(0, 27))
def test_phq9_bands_are_monotone(a: int, b: int) -> None:
    order = list(Phq9Band)
    low, high = sorted((a, b))
    assert order.index(phq9_band(low)) <= order.index(phq9_band(high))


@given(a=st.integers(0, 21), b=st.integers(0, 21))
def test_gad7_bands_are_monotone(a: int, b: int) -> None:
    order = list(Gad7Band)
    low, high = sorted((a, b))
    assert order.index(gad7_band(low)) <= order.index(gad7_band(high))


@given(answers=BOOLS, extra=st.integers(0, 6))
def test_answering_yes_to_more_cssrs_questions_never_lowers_risk(
    answers: list[bool], extra: int
) -> None:
    order = list(CssrsRisk)
    more = [*answers]
    more[extra] = True
    assert order.index(cssrs_risk(CssrsScreener(*answers))) <= order.index(
        cssrs_risk(CssrsScreener(*more))
    )


@given(phq9=PHQ9, answers=BOOLS)
def test_a_risk_flag_is_raised_exactly_when_item9_is_positive_or_cssrs_is_high(
    phq9: list[int], answers: list[bool]
) -> None:
    cssrs = dict(zip(
        ("q1_wish_to_be_dead", "q2_suicidal_thoughts", "q3_thoughts_with_method", "q4_intent",
         "q5_plan_with_intent", "q6_behaviour_lifetime", "q6_behaviour_past_3_months"),
        answers, strict=True,
    ))  # fmt: skip
    record, events = refer(phq9=phq9, cssrs=cssrs)
    high = cssrs_risk(CssrsScreener(*answers)) is CssrsRisk.HIGH
    raised = [e for e in events if e.event_type == "RiskFlagRaised"]
    assert len(raised) == (1 if phq9[8] > 0 or high else 0)
    assert len(record.flags) == len(raised)
