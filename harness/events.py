"""Builders of well-formed events for the tests and the benchmarks (no real patient data:
synthetic ids only)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

from contracts import Stamp
from contracts.intake import EligibilityDecided, Identity, PatientReferred, ScreeningScored
from contracts.vocabulary import CssrsRisk, Decision, Gad7Band, Phq9Band, Protocol
from services.runtime.crypto import seal

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
SYNTHETIC_IDENTITY = Identity(
    given_name="Test", family_name="Patient-0", date_of_birth=date(1980, 1, 1)
)
SYNTHETIC_DATA_KEY = bytes(range(32))
"""The data key events built here seal SYNTHETIC_IDENTITY with (tests open it again)."""


def sequential_ids(seed: int = 1) -> Any:
    counter = count(seed)
    return lambda: uuid.UUID(int=next(counter))


def stamp(producer: str = "intake", now: datetime = T0, seed: int = 1) -> Stamp:
    return Stamp(
        now=now,
        producer=producer,
        correlation_id=uuid.UUID(int=10**6 + seed),
        new_id=sequential_ids(seed),
    )


def referred(
    patient_id: str, site_id: str = "site-north", s: Stamp | None = None
) -> PatientReferred:
    s = s or stamp()
    sealed = seal(SYNTHETIC_IDENTITY, patient_id, uuid.UUID(int=7), SYNTHETIC_DATA_KEY)
    return PatientReferred(**s.envelope(patient_id, site_id), referral_source="gp", identity=sealed)


def screened(
    patient_id: str, site_id: str = "site-north", s: Stamp | None = None
) -> ScreeningScored:
    s = s or stamp()
    return ScreeningScored(
        **s.envelope(patient_id, site_id),
        phq9_total=18,
        phq9_band=Phq9Band.MODERATELY_SEVERE,
        phq9_item9=0,
        gad7_total=9,
        gad7_band=Gad7Band.MILD,
        cssrs_risk=CssrsRisk.LOW,
        adequate_failed_trials=2,
    )


def approved(
    patient_id: str,
    site_id: str = "site-north",
    s: Stamp | None = None,
    protocol: Protocol = Protocol.ESKETAMINE_TRD,
) -> EligibilityDecided:
    s = s or stamp()
    return EligibilityDecided(
        **s.envelope(patient_id, site_id),
        decision=Decision.APPROVED,
        decided_by="dr-test",
        protocol=protocol,
        planned_doses=2,
    )
