"""Screening instruments: PHQ-9, GAD-7 and the C-SSRS screener, scored per their guides."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.vocabulary import CssrsRisk, Gad7Band, Phq9Band

PHQ9_BANDS: tuple[tuple[int, Phq9Band], ...] = (
    (20, Phq9Band.SEVERE),
    (15, Phq9Band.MODERATELY_SEVERE),
    (10, Phq9Band.MODERATE),
    (5, Phq9Band.MILD),
    (0, Phq9Band.MINIMAL),
)
GAD7_BANDS: tuple[tuple[int, Gad7Band], ...] = (
    (15, Gad7Band.SEVERE),
    (10, Gad7Band.MODERATE),
    (5, Gad7Band.MILD),
    (0, Gad7Band.MINIMAL),
)


def phq9_band(total: int) -> Phq9Band:
    """PHQ-9 severity: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe,
    20-27 severe (Kroenke, Spitzer & Williams 2001, PHQ-9 scoring guide)."""
    return next(band for floor, band in PHQ9_BANDS if total >= floor)


def gad7_band(total: int) -> Gad7Band:
    """GAD-7 severity with cut points 5/10/15 (Spitzer et al. 2006, GAD-7 scoring guide)."""
    return next(band for floor, band in GAD7_BANDS if total >= floor)


@dataclass(frozen=True)
class CssrsScreener:
    wish_to_be_dead: bool  # Q1, past month
    suicidal_thoughts: bool  # Q2, past month
    thoughts_with_method: bool  # Q3, past month
    intent: bool  # Q4, past month
    plan_with_intent: bool  # Q5, past month
    behaviour_lifetime: bool  # Q6
    behaviour_past_3_months: bool  # Q6 follow-up


def cssrs_risk(answers: CssrsScreener) -> CssrsRisk:
    """C-SSRS screener triage (Columbia Lighthouse Project screen version): yes to Q4 or Q5,
    or suicidal behaviour in the past 3 months, is high risk needing immediate clinician
    review; Q3 or lifetime behaviour is moderate; otherwise low (DESIGN: screening)."""
    if answers.intent or answers.plan_with_intent or answers.behaviour_past_3_months:
        return CssrsRisk.HIGH
    if answers.thoughts_with_method or answers.behaviour_lifetime:
        return CssrsRisk.MODERATE
    return CssrsRisk.LOW
