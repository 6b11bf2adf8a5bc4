"""Builders of intake referrals and records for unit tests (synthetic people only)."""

from __future__ import annotations

import uuid
from typing import Any

from contracts import EventBase
from harness.events import SYNTHETIC_DATA_KEY, stamp
from services.intake.api import ReferralIn
from services.intake.coverage import PayerRule
from services.intake.domain import IntakeRecord, decide_referral
from services.intake.rules import IntakeRules
from services.runtime.crypto import seal

NO_RISK = {"q1_wish_to_be_dead": False, "q2_suicidal_thoughts": False}
TRD_TRIALS = [
    {"drug": "sertraline", "adequate_dose": True, "weeks": 8, "outcome": "failed"},
    {"drug": "venlafaxine", "adequate_dose": True, "weeks": 10, "outcome": "failed"},
]
FLAG_ID = uuid.UUID(int=77)


def referral_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site_id": "site-north",
        "referral_source": "primary_care",
        "identity": {"given_name": "Test", "family_name": "Patient", "date_of_birth": "1980-01-01"},
        "medications": [],
        "antidepressant_trials": TRD_TRIALS,
        "phq9": [2, 2, 2, 2, 2, 2, 2, 2, 0],
        "gad7": [1, 1, 1, 1, 1, 1, 1],
        "cssrs": NO_RISK,
    }
    body.update(overrides)
    return body


def refer(
    rules: IntakeRules | None = None, payer: PayerRule | None = None, **overrides: Any
) -> tuple[IntakeRecord, list[EventBase]]:
    body = ReferralIn.model_validate(referral_body(**overrides))
    sealed = seal(body.identity.to_identity(), "pat-1", uuid.UUID(int=7), SYNTHETIC_DATA_KEY)
    referral = body.to_domain(sealed)
    return decide_referral(
        "pat-1", referral, stamp(), rules or IntakeRules(), payer or PayerRule(), FLAG_ID
    )


def types(events: list[EventBase]) -> list[str]:
    return [e.event_type for e in events]
