"""How upstream facts fold into a patient's treatment record: one function per event type
from intake, scheduling and coaching (DESIGN safety invariants: every gate's facts arrive as
events; each fold is idempotent and independent of arrival order)."""

from __future__ import annotations

from functools import singledispatch

from contracts.envelope import EventBase
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
from contracts.vocabulary import Decision
from services.session.chart import InteractionFlag
from services.session.record import (
    TREATMENT_DAY_KINDS,
    Booking,
    Fact,
    RiskFlag,
    Ruling,
    TreatmentRecord,
    add_fact,
)


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
