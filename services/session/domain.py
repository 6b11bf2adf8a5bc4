"""Treatment-day rules, first half: check-in, vitals and the pre-dose blood-pressure gate.

Dose rules live in `dosing.py`, discharge in `discharge.py`, the state in `record.py` and how
upstream facts fold into it in `absorb.py`. Decisions take the record, a command and a Stamp
and return (new record, events); they never await, read a clock or make ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Stamp
from contracts.session import DoseHeld, PatientCheckedIn, VitalsRecorded
from services.session.chart import (
    Hold,
    ObservedAtOutOfRangeError,
    Reading,
    Session,
    bp_above_threshold,
    check_observed_at,
    envelope,
    whole_minutes,
)
from services.session.invariants import Treatment, check_treatment_facts
from services.session.record import (
    SessionRuleViolation,
    TreatmentRecord,
    open_session,
    with_session,
)
from services.session.rules import SessionRules

MAX_MINUTES_SINCE_DOSE = 24 * 60
BP_RECHECK = "bp_40min"


class NoDosingBooking(SessionRuleViolation):
    """Check-in needs a dosing appointment booked for this patient (scheduling books them)."""


class BookingIncomplete(SessionRuleViolation):
    """The dosing booking lacks protocol, dose number or course phase: scheduling must fix it."""


class ObservedBeforeReferral(SessionRuleViolation):
    """DESIGN safety invariant 1 (facts in order): charted times may be late entries but never
    precede the referral's received_at, when the patient reached the clinic."""


class TreatmentDayAlreadyOpen(SessionRuleViolation):
    """DESIGN safety invariant 2 (one treatment day at a time): no check-in while another
    session of the patient is open, nor charted before another session's discharge (Spravato
    REMS and the IV protocol monitor each dose to discharge before the next treatment day)."""


@dataclass(frozen=True)
class CheckIn:
    appointment_id: str
    observed_at: datetime


@dataclass(frozen=True)
class RecordVitals:
    session_id: str
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int
    observed_at: datetime


def session_id_for(appointment_id: str) -> str:
    """One session per appointment, so a repeated check-in finds the same session. Ids stay
    within the 64-character EntityId: long appointment ids are hashed."""
    if len(appointment_id) <= 60:
        return f"ses-{appointment_id}"
    return f"ses-{hashlib.sha256(appointment_id.encode()).hexdigest()[:40]}"


def check_after_referral(record: TreatmentRecord, at: datetime) -> None:
    """A check-in is charted no earlier than the referral reached the clinic."""
    if record.received_at is not None and at < record.received_at:
        raise ObservedBeforeReferral(
            f"check-in observed at {at.isoformat()} precedes the referral "
            f"received at {record.received_at.isoformat()}"
        )


def check_one_treatment_day(record: TreatmentRecord, at: datetime) -> None:
    """Every other treatment day is closed, and closed before this one begins."""
    for other in record.sessions.values():
        if other.cancelled_at is not None:
            continue
        if other.discharge is None:
            raise TreatmentDayAlreadyOpen(
                f"session {other.session_id} checked in at {other.checked_in_at.isoformat()} "
                "is not discharged"
            )
        if at < other.discharge.discharged_at:
            raise TreatmentDayAlreadyOpen(
                f"check-in observed at {at.isoformat()} precedes the discharge of session "
                f"{other.session_id} at {other.discharge.discharged_at.isoformat()}"
            )


def decide_check_in(
    record: TreatmentRecord, command: CheckIn, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[PatientCheckedIn]]:
    """Check-in opens the session of a booked dosing appointment, once, only when the facts of
    `invariants.TREATMENT_FACTS` hold at its charted time (approved course with a dose left,
    consent, REMS enrolment and certified site for esketamine, no open risk flag); never charted
    before the referral was received, nor while another treatment day is open or before its
    discharge (DESIGN safety invariants 1-4). The session keeps the interaction flags shown to
    the nurse at check-in; they must be acknowledged before the dose
    (`gates.decide_acknowledge_interactions`)."""
    session_id = session_id_for(command.appointment_id)
    if session_id in record.sessions:
        return record, []
    check_observed_at(command.observed_at, stamp.now, rules)
    booking = record.bookings.get(command.appointment_id)
    if booking is None:
        raise NoDosingBooking(f"no dosing appointment {command.appointment_id}")
    if booking.protocol is None or booking.dose_number is None or booking.course_phase is None:
        raise BookingIncomplete(command.appointment_id)
    check_after_referral(record, command.observed_at)
    check_treatment_facts(record, Treatment.of(booking), command.observed_at)
    check_one_treatment_day(record, command.observed_at)
    session = Session(
        session_id=session_id,
        appointment_id=booking.appointment_id,
        site_id=booking.site_id,
        protocol=booking.protocol,
        dose_number=booking.dose_number,
        course_phase=booking.course_phase,
        checked_in_at=command.observed_at,
        interactions=list(record.interactions),
        correlation_id=stamp.correlation_id,
    )
    event = PatientCheckedIn(
        **envelope(stamp, command.observed_at, record.patient_id, booking.site_id),
        session_id=session_id,
        appointment_id=booking.appointment_id,
        protocol=booking.protocol,
    )
    return with_session(record, session), [event]


def decide_vitals(
    record: TreatmentRecord, command: RecordVitals, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[VitalsRecorded | DoseHeld]]:
    """Pre-dose BP gate (DESIGN: treatment day): a pre-dose reading above threshold holds the
    dose (DoseHeld); a later pre-dose reading at or below threshold releases it. After the dose,
    readings carry minutes since dose (Spravato: recheck BP at ~40 min and before discharge)."""
    session = open_session(record, command.session_id).model_copy(deep=True)
    at = command.observed_at
    check_observed_at(at, stamp.now, rules, not_before=session.last_observed_at)
    minutes = whole_minutes(session.dose.administered_at, at) if session.dose else None
    if minutes is not None and minutes > MAX_MINUTES_SINCE_DOSE:
        raise ObservedAtOutOfRangeError("observed_at is more than 24 h after the dose")
    session.vitals.append(
        Reading(
            observed_at=at,
            systolic=command.systolic,
            diastolic=command.diastolic,
            heart_rate=command.heart_rate,
            spo2=command.spo2,
            pre_dose=session.dose is None,
            minutes_since_dose=minutes,
        )
    )
    events: list[VitalsRecorded | DoseHeld] = [
        VitalsRecorded(
            **envelope(stamp, at, record.patient_id, session.site_id),
            session_id=session.session_id,
            systolic=command.systolic,
            diastolic=command.diastolic,
            heart_rate=command.heart_rate,
            spo2=command.spo2,
            minutes_since_dose=minutes,
        )
    ]
    if session.dose is None and bp_above_threshold(command.systolic, command.diastolic, rules):
        session.holds.append(
            Hold(observed_at=at, systolic=command.systolic, diastolic=command.diastolic)
        )
        events.append(
            DoseHeld(
                **envelope(stamp, at, record.patient_id, session.site_id),
                session_id=session.session_id,
                reason="blood_pressure_above_threshold",
                systolic=command.systolic,
                diastolic=command.diastolic,
            )
        )
    elif session.dose is None:
        for hold in session.holds:
            hold.released_at = hold.released_at or at
    if minutes is not None and minutes >= rules.bp_recheck_min - rules.bp_recheck_early_min:
        alert = session.alert(BP_RECHECK)
        if alert is not None and alert.resolved_at is None:
            alert.resolved_at = at
    return with_session(record, session), events
