"""The intake record and the referral as accepted: the aggregate's state (with the patient's
identity only as ciphertext, and its erasure), the consents as charted, and the refusals of
charted times."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts import EventBase
from contracts.intake import Contraindication, SealedIdentity
from contracts.vocabulary import (
    ConsentKind,
    CssrsRisk,
    Decision,
    Modality,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.intake.coverage import Coverage, Trial
from services.intake.rules import SafetyFacts
from services.intake.scoring import CssrsScreener
from services.runtime.refusals import FieldOutOfRange, InvalidValue

Decided = tuple["IntakeRecord", list[EventBase]]


class Referral(BaseModel):
    """A referral as accepted by the API (already validated for shape and ranges)."""

    model_config = ConfigDict(frozen=True)
    site_id: str
    referral_source: str
    identity: SealedIdentity
    payer: str
    medications: tuple[str, ...]
    trials: tuple[Trial, ...]
    facts: SafetyFacts
    phq9: tuple[int, ...]
    gad7: tuple[int, ...]
    cssrs: CssrsScreener
    received_at: datetime | None = None


class ReferralReceivedInTheFuture(InvalidValue):
    """DESIGN safety invariant 1: a referral's received_at (when it reached the clinic) may be
    earlier than its entry, never in the future beyond clock skew."""


class ChartedTimeOutOfRange(FieldOutOfRange):
    """DESIGN safety invariant 1 (facts in order): a late entry's charted time lies within
    [the referral's received_at, now + clock skew] (422 naming the request field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reasons = [reason]


class ChartedInTheFuture(ChartedTimeOutOfRange):
    """DESIGN safety invariant 1: a charted time may be a late entry, never in the future
    beyond the clock skew."""


class ChartedBeforeReferral(ChartedTimeOutOfRange):
    """DESIGN safety invariant 1: charted times never precede the referral's received_at, when
    the patient reached the clinic."""


class Flag(BaseModel):
    """A risk flag: raised here at screening or by session/coaching, acknowledged here."""

    kind: RiskKind
    severity: RiskSeverity = RiskSeverity.HIGH
    acknowledge_by: datetime | None = None
    raised_by: str = "intake"
    raised_event_id: UUID | None = None
    correlation_id: UUID | None = None
    acknowledged: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    note: str | None = None
    escalated: bool = False

    @property
    def awaiting_escalation(self) -> bool:
        return not self.acknowledged and not self.escalated and self.acknowledge_by is not None


class Finding(BaseModel):
    """A matched safety rule; blocking findings need a prescriber override with a reason."""

    blocking: bool
    source: str
    overridden_by: str | None = None
    override_reason: str | None = None

    @property
    def unresolved(self) -> bool:
        return self.blocking and self.overridden_by is None


class InteractionFlag(BaseModel):
    interaction: str
    medication: str


class ConsentEntry(BaseModel):
    """One ConsentRecorded as charted: late entries keep their charted time."""

    kind: ConsentKind
    given: bool
    at: datetime


class Erasure(BaseModel):
    """The identity was erased on request (its data key deleted); the pseudonymous care record
    stays. The reason is kept here, never in an audit entry or a log."""

    at: datetime
    by: str
    reason: str


class IntakeRecord(BaseModel):
    patient_id: str
    site_id: str
    identity: SealedIdentity
    referral_source: str = ""
    payer: str = "default"
    phq9_total: int
    phq9_item9: int = 0
    gad7_total: int
    cssrs_risk: CssrsRisk = CssrsRisk.LOW
    adequate_failed_trials: int
    trials: list[Trial] = Field(default_factory=list)
    medications: list[str] = Field(default_factory=list)
    facts: SafetyFacts = Field(default_factory=SafetyFacts)
    coverage: Coverage | None = None
    interactions: list[str] = Field(default_factory=list)
    interaction_flags: list[InteractionFlag] = Field(default_factory=list)
    contraindications: dict[Contraindication, Finding] = Field(default_factory=dict)
    flags: dict[str, Flag] = Field(default_factory=dict)
    consents: dict[str, bool] = Field(default_factory=dict)
    consent_history: list[ConsentEntry] = Field(default_factory=list)
    received_at: datetime | None = None
    decision: Decision | None = None
    protocol: Protocol | None = None
    modality: Modality | None = None
    erasure: Erasure | None = None

    @property
    def awaiting_escalation(self) -> bool:
        return any(f.awaiting_escalation for f in self.flags.values())

    def consent(self, kind: ConsentKind, at: datetime | None = None) -> bool | None:
        """Whether `kind` was given (None: never recorded) as charted at `at` (default: the
        latest entry): entries count in the order of their charted times, not of entry.
        Records from before the history was kept answer from `consents`."""
        entries = sorted(
            (e for e in self.consent_history if e.kind is kind and (at is None or e.at <= at)),
            key=lambda e: e.at,
        )
        if entries:
            return entries[-1].given
        if any(e.kind is kind for e in self.consent_history):
            return None
        return self.consents.get(kind.value)
