"""The treatment record: one per patient, its sessions (each one's chart: chart.py), and how
upstream facts fold into it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.envelope import UtcDatetime
from contracts.vocabulary import (
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.runtime.refusals import NotFound, RuleViolation
from services.session.chart import InteractionFlag, Session

TREATMENT_DAY_KINDS = frozenset({AppointmentKind.DOSING, AppointmentKind.BOOSTER})


class SessionRuleViolation(RuleViolation):
    """Base of the session service's named rule violations; `reasons` name the specifics."""

    def __init__(self, *reasons: str) -> None:
        super().__init__(*reasons)
        self.reasons = reasons


class SessionAlreadyDischarged(SessionRuleViolation):
    """A discharged session is closed to further charting."""


class PatientNotFound(NotFound):
    """No treatment record for this patient."""


class SessionCancelled(SessionRuleViolation):
    """DESIGN safety invariants 3 and 6: a cancelled appointment is not dosed; its cancellation
    closes the session it opened, if no dose was given."""


class SessionNotFound(NotFound):
    """No such session for this patient."""


class Booking(BaseModel):
    appointment_id: str
    site_id: str
    starts_at: UtcDatetime
    dose_number: int | None = None
    protocol: Protocol | None = None
    course_phase: CoursePhase | None = None


class RiskFlag(BaseModel):
    """A risk flag from any source (screening, a follow-up PHQ-9, an adverse event). Either
    half may arrive first: an acknowledgement heard before its flag is kept until it comes."""

    kind: RiskKind | None = None
    severity: RiskSeverity | None = None
    raised_at: UtcDatetime | None = None
    acknowledged_at: UtcDatetime | None = None
    raised_by: str | None = Field(
        default=None, description="The service that raised it (session: charted here)."
    )

    def open_at(self, at: datetime) -> bool:
        """Raised by `at` and not yet acknowledged then (DESIGN safety invariant 4)."""
        if self.raised_at is None or self.raised_at > at:
            return False
        return self.acknowledged_at is None or self.acknowledged_at > at

    @property
    def is_open(self) -> bool:
        return self.raised_at is not None and self.acknowledged_at is None


class Fact(BaseModel):
    """A yes/no fact that holds from `at` until a later fact of the same kind says otherwise
    (consent given or withdrawn, a site's REMS certification)."""

    at: UtcDatetime
    holds: bool
    event_id: UUID


class Ruling(BaseModel):
    """An eligibility decision, in force from `at` until the next one."""

    at: UtcDatetime
    decision: Decision
    decided_by: str
    event_id: UUID


def fact_at(history: list[Fact], at: datetime) -> bool | None:
    """What the latest fact at or before `at` said (histories are kept in time order, ties in
    the order heard); None when nothing was said by then."""
    said = [fact for fact in history if fact.at <= at]
    return said[-1].holds if said else None


def add_fact(history: list[Fact], fact: Fact) -> None:
    if all(known.event_id != fact.event_id for known in history):
        history.append(fact)
        history.sort(key=lambda known: known.at)


class TreatmentRecord(BaseModel):
    """One per patient: the patient's sessions and a safety view of what upstream services
    said, each fact with the time it took effect, so every gate asks what held at the charted
    time of the step it gates, whatever order the events arrived in (DESIGN safety
    invariants; rebuildable from the topics like every projection)."""

    patient_id: str
    bookings: dict[str, Booking] = Field(default_factory=dict)
    cancelled_appointments: dict[str, UtcDatetime] = Field(default_factory=dict)
    interactions: list[InteractionFlag] = Field(default_factory=list)
    risk_flags: dict[str, RiskFlag] = Field(default_factory=dict)
    sessions: dict[str, Session] = Field(default_factory=dict)
    consents: dict[ConsentKind, list[Fact]] = Field(default_factory=dict)
    site_certification: dict[str, list[Fact]] = Field(default_factory=dict)
    rulings: list[Ruling] = Field(default_factory=list)
    planned_doses: int | None = None
    prescriber_id: str | None = None
    received_at: UtcDatetime | None = None

    @property
    def open_risk_flags(self) -> dict[str, RiskFlag]:
        return {flag_id: flag for flag_id, flag in self.risk_flags.items() if flag.is_open}

    def flags_open_at(self, at: datetime) -> dict[str, RiskFlag]:
        return {flag_id: flag for flag_id, flag in self.risk_flags.items() if flag.open_at(at)}

    def ruling_at(self, at: datetime) -> Ruling | None:
        """The eligibility decision in force at `at` (of two at the same time, the later heard)."""
        said = [ruling for ruling in self.rulings if ruling.at <= at]
        return said[-1] if said else None

    def consent_at(self, kind: ConsentKind, at: datetime) -> bool | None:
        return fact_at(self.consents.get(kind, []), at)

    def site_certified_at(self, site_id: str, at: datetime) -> bool | None:
        return fact_at(self.site_certification.get(site_id, []), at)


def session_of(record: TreatmentRecord, session_id: str) -> Session:
    session = record.sessions.get(session_id)
    if session is None:
        raise SessionNotFound(session_id)
    return session


def open_session(record: TreatmentRecord, session_id: str) -> Session:
    session = session_of(record, session_id)
    if session.discharge is not None:
        at = session.discharge.discharged_at.isoformat(timespec="minutes")
        raise SessionAlreadyDischarged(f"session {session_id} was discharged at {at}")
    if session.cancelled_at is not None:
        at = session.cancelled_at.isoformat(timespec="minutes")
        raise SessionCancelled(
            f"appointment {session.appointment_id} was cancelled at {at}; its session is closed"
        )
    return session


def with_session(record: TreatmentRecord, session: Session) -> TreatmentRecord:
    updated = record.model_copy(deep=True)
    updated.sessions[session.session_id] = session
    return updated
