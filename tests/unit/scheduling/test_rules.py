"""Scheduling configuration and calendar arithmetic: env overrides, safety floors, business days."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from contracts.vocabulary import Protocol
from services.scheduling.clinic_calendar import add_business_days, roll_to_business_day
from services.scheduling.rules import SchedulingRules


def test_cadence_is_configurable_through_scheduling_env_vars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEDULING_ESKETAMINE_INDUCTION_GAPS_DAYS", "[2, 5]")
    monkeypatch.setenv("SCHEDULING_IV_PLANNED_DOSES", "8")
    rules = SchedulingRules()
    assert rules.cadence(Protocol.ESKETAMINE_TRD).induction_gaps == (2, 5)
    assert rules.cadence(Protocol.IV_KETAMINE_SERIES).default_doses == 8


def test_esketamine_slot_shorter_than_rems_monitoring_cannot_be_configured() -> None:
    with pytest.raises(ValidationError):
        SchedulingRules(esketamine_slot_minutes=90)


def test_business_days_skip_saturday_and_sunday() -> None:
    friday = date(2026, 3, 6)
    assert add_business_days(friday, 1) == date(2026, 3, 9)
    assert add_business_days(friday, 2) == date(2026, 3, 10)
    assert roll_to_business_day(date(2026, 3, 8)) == date(2026, 3, 9)
    assert roll_to_business_day(friday) == friday
