"""The treatment record: one per patient, its sessions, and how upstream facts fold into it."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.envelope import EventBase, UtcDatetime
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    MedicationInteractionFlagged,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CourseExtended,
    CourseScheduled,
    CourseTransferred,
    SiteCertificationChanged,
)
from contracts.session import MonitoringForm
from contracts.vocabulary import (
    AdverseEventSeverity,
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
    Interaction,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.runtime.refusals import NotFound, RuleViolation

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


class InteractionFlag(BaseModel):
    interaction: Interaction
    medication: str
    monitoring: str


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


class Reading(BaseModel):
    observed_at: UtcDatetime
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int
    pre_dose: bool
    minutes_since_dose: int | None = None


class Hold(BaseModel):
    observed_at: UtcDatetime
    systolic: int
    diastolic: int
    released_at: UtcDatetime | None = None
    overridden_by: str | None = None
    override_reason: str | None = None


class Acknowledgement(BaseModel):
    acknowledged_by: str
    acknowledged_at: UtcDatetime
    interactions: list[Interaction]


class Dose(BaseModel):
    administered_at: UtcDatetime
    dose_mg: float
    lot_number: str
    weight_kg: float | None
    administered_by: str
    devices: int | None = None
    infusion_minutes: int | None = None


class Discharge(BaseModel):
    discharged_at: UtcDatetime
    monitoring_minutes: int
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
    ready_to_leave_at: UtcDatetime | None = None
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None


class AdverseEvent(BaseModel):
    adverse_event_id: str
    observed_at: UtcDatetime
    kind: str
    severity: AdverseEventSeverity
    serious: bool
    reported_by: str
    flag_id: UUID | None = None


class Alert(BaseModel):
    """Something the nurse must see on the session view (e.g. the 40-minute BP is overdue)."""

    kind: str
    due_at: UtcDatetime
    resolved_at: UtcDatetime | None = None


class FormStatus(BaseModel):
    due_by: UtcDatetime
    submitted_at: UtcDatetime | None = None
    submitted_by: str | None = None
    overdue: bool = False
    content: MonitoringForm | None = None


class Session(BaseModel):
    session_id: str
    appointment_id: str
    site_id: str
    protocol: Protocol
    dose_number: int
    course_phase: CoursePhase
    checked_in_at: UtcDatetime
    interactions: list[InteractionFlag]
    vitals: list[Reading] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)
    dose: Dose | None = None
    discharge: Discharge | None = None
    correlation_id: UUID | None = None
    interactions_acknowledged: Acknowledgement | None = None
    adverse_events: list[AdverseEvent] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    monitoring_form: FormStatus | None = None
    cancelled_at: UtcDatetime | None = None
    discharge_bp_accepted: Hold | None = None
    breaches: list[str] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """A treatment day in progress: neither discharged nor closed by its cancellation."""
        return self.discharge is None and self.cancelled_at is None

    @property
    def dose_held(self) -> bool:
        return any(hold.released_at is None for hold in self.holds)

    @property
    def unacknowledged_interactions(self) -> list[InteractionFlag]:
        seen = self.interactions_acknowledged
        done = set(seen.interactions) if seen else set()
        return [flag for flag in self.interactions if flag.interaction not in done]

    def alert(self, kind: str) -> Alert | None:
        return next((a for a in self.alerts if a.kind == kind), None)

    @property
    def last_observed_at(self) -> datetime:
        """The latest charted time: check-in, readings, acknowledgement, hold releases and
        overrides, dose (DESIGN safety invariant 1: a treatment day's timeline moves forward)."""
        times = [self.checked_in_at, *(r.observed_at for r in self.vitals)]
        times += [hold.released_at for hold in self.holds if hold.released_at is not None]
        if self.interactions_acknowledged is not None:
            times.append(self.interactions_acknowledged.acknowledged_at)
        return max([*times, self.dose.administered_at] if self.dose else times)


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


def _copy(record: TreatmentRecord | None, patient_id: str) -> TreatmentRecord:
    if record is None:
        return TreatmentRecord(patient_id=patient_id)
    return record.model_copy(deep=True)


@singledispatch
def absorb(event: EventBase, record: TreatmentRecord | None) -> TreatmentRecord:
    """Fold an upstream fact into the record; facts the treatment day ignores change nothing."""
    return _copy(record, event.patient_id)


@absorb.register
def _booked(event: AppointmentBooked, record: TreatmentRecord | None) -> TreatmentRecord:
    """Dosing and booster appointments are treatment days (DESIGN: treatment days, boosters);
    one already heard cancelled stays cancelled, whichever event came first."""
    updated = _copy(record, event.patient_id)
    if event.kind in TREATMENT_DAY_KINDS and event.appointment_id not in (
        updated.cancelled_appointments
    ):
        updated.bookings[event.appointment_id] = Booking(
            appointment_id=event.appointment_id,
            site_id=event.site_id,
            starts_at=event.starts_at,
            dose_number=event.dose_number,
            protocol=event.protocol,
            course_phase=event.course_phase,
        )
    return updated


def _move_open_sessions(record: TreatmentRecord, appointment_ids: set[str], site_id: str) -> None:
    """DESIGN safety invariant 6: an undosed session follows its appointment to its current
    site, so only that site's nurses chart it and the site's certification is the one checked
    (a dose already given stays where it was given)."""
    for session in record.sessions.values():
        undosed = session.is_open and session.dose is None
        if undosed and session.appointment_id in appointment_ids:
            session.site_id = site_id


@absorb.register
def _rescheduled(event: AppointmentRescheduled, record: TreatmentRecord | None) -> TreatmentRecord:
    """A move may change the site (a transfer re-places each appointment): the envelope's
    site is the appointment's new site."""
    updated = _copy(record, event.patient_id)
    booking = updated.bookings.get(event.appointment_id)
    if booking is not None:
        booking.starts_at = event.starts_at
        booking.site_id = event.site_id
    _move_open_sessions(updated, {event.appointment_id}, event.site_id)
    return updated


@absorb.register
def _transferred(event: CourseTransferred, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 6: a transfer moves the course's open sessions to the new site
    (a patient has one course, so every booking and open session is the course's)."""
    updated = _copy(record, event.patient_id)
    for booking in updated.bookings.values():
        if booking.site_id == event.from_site_id:
            booking.site_id = event.to_site_id
    _move_open_sessions(
        updated, {s.appointment_id for s in updated.sessions.values()}, event.to_site_id
    )
    return updated


@absorb.register
def _cancelled(event: AppointmentCancelled, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 6: a cancellation closes its open session (if not yet dosed);
    the cancellation is remembered so a booking heard later does not revive it."""
    updated = _copy(record, event.patient_id)
    updated.bookings.pop(event.appointment_id, None)
    earlier = updated.cancelled_appointments.get(event.appointment_id)
    updated.cancelled_appointments[event.appointment_id] = min(
        event.occurred_at, earlier or event.occurred_at
    )
    for session in updated.sessions.values():
        undosed = session.is_open and session.dose is None
        if session.appointment_id == event.appointment_id and undosed:
            session.cancelled_at = event.occurred_at
    return updated


@absorb.register
def _course(event: CourseScheduled, record: TreatmentRecord | None) -> TreatmentRecord:
    """The course's plan: how many treatment days the prescriber's approval allows."""
    updated = _copy(record, event.patient_id)
    updated.planned_doses = max(event.planned_doses, updated.planned_doses or 0)
    return updated


@absorb.register
def _extended(event: CourseExtended, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 6: only a prescriber extends the plan (scheduling checks the
    role); plans only grow, so the larger number wins whatever the arrival order."""
    updated = _copy(record, event.patient_id)
    updated.planned_doses = max(event.planned_doses, updated.planned_doses or 0)
    return updated


@absorb.register
def _site_certification(
    event: SiteCertificationChanged, record: TreatmentRecord | None
) -> TreatmentRecord:
    """Spravato REMS: esketamine is administered only at certified sites, at the time of each
    dose (DESIGN safety invariant 3)."""
    updated = _copy(record, event.patient_id)
    history = updated.site_certification.setdefault(event.site_id, [])
    add_fact(
        history, Fact(at=event.occurred_at, holds=event.rems_certified, event_id=event.event_id)
    )
    return updated


@absorb.register
def _interaction(
    event: MedicationInteractionFlagged, record: TreatmentRecord | None
) -> TreatmentRecord:
    """Interactions flagged at intake are shown at every check-in (DESIGN: interactions)."""
    updated = _copy(record, event.patient_id)
    flag = InteractionFlag(
        interaction=event.interaction, medication=event.medication, monitoring=event.monitoring
    )
    if flag not in updated.interactions:
        updated.interactions.append(flag)
    for session in updated.sessions.values():
        if session.dose is None and flag not in session.interactions:
            session.interactions.append(flag)
    return updated


@absorb.register
def _referred(event: PatientReferred, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 1: the referral's occurred_at is when it reached the clinic
    (received_at); nothing of the patient's treatment is charted before it. Identity is not
    kept here."""
    updated = _copy(record, event.patient_id)
    updated.received_at = event.occurred_at
    return updated


@absorb.register
def _consent(event: ConsentRecorded, record: TreatmentRecord | None) -> TreatmentRecord:
    """Treatment consent and Spravato REMS enrolment, given or withdrawn, from the time intake
    recorded them (DESIGN safety invariant 3: both hold at the moment of each dose)."""
    updated = _copy(record, event.patient_id)
    history = updated.consents.setdefault(event.consent, [])
    add_fact(history, Fact(at=event.occurred_at, holds=event.given, event_id=event.event_id))
    return updated


@absorb.register
def _eligibility(event: EligibilityDecided, record: TreatmentRecord | None) -> TreatmentRecord:
    """The approving psychiatrist is the prescriber notified of serious adverse events; the
    decision in force at a step's charted time gates it (DESIGN safety invariant 3)."""
    updated = _copy(record, event.patient_id)
    if all(ruling.event_id != event.event_id for ruling in updated.rulings):
        ruling = Ruling(
            at=event.occurred_at,
            decision=event.decision,
            decided_by=event.decided_by,
            event_id=event.event_id,
        )
        updated.rulings = sorted([*updated.rulings, ruling], key=lambda known: known.at)
    if event.decision is Decision.APPROVED:
        updated.prescriber_id = event.decided_by
        if event.planned_doses is not None:
            updated.planned_doses = max(event.planned_doses, updated.planned_doses or 0)
    return updated


@absorb.register
def _risk_raised(event: RiskFlagRaised, record: TreatmentRecord | None) -> TreatmentRecord:
    """DESIGN safety invariant 4: flags from screening (intake), follow-up PHQ-9 (coaching) and
    serious adverse events (here) all block treatment until acknowledged."""
    updated = _copy(record, event.patient_id)
    flag = updated.risk_flags.setdefault(str(event.flag_id), RiskFlag())
    flag.kind, flag.severity, flag.raised_by = event.kind, event.severity, event.producer
    flag.raised_at = min(event.occurred_at, flag.raised_at or event.occurred_at)
    return updated


@absorb.register
def _risk_acknowledged(
    event: RiskFlagAcknowledged, record: TreatmentRecord | None
) -> TreatmentRecord:
    updated = _copy(record, event.patient_id)
    flag = updated.risk_flags.setdefault(str(event.flag_id), RiskFlag())
    flag.acknowledged_at = flag.acknowledged_at or event.occurred_at
    return updated


def session_of(record: TreatmentRecord, session_id: str) -> Session:
    session = record.sessions.get(session_id)
    if session is None:
        raise SessionNotFound(session_id)
    return session


def open_session(record: TreatmentRecord, session_id: str) -> Session:
    session = session_of(record, session_id)
    if session.discharge is not None:
        raise SessionAlreadyDischarged(session_id)
    if session.cancelled_at is not None:
        raise SessionCancelled(session_id)
    return session


def with_session(record: TreatmentRecord, session: Session) -> TreatmentRecord:
    updated = record.model_copy(deep=True)
    updated.sessions[session.session_id] = session
    return updated
