"""Builders for treatment-day unit tests: a booked, REMS-enrolled patient and charting steps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from contracts.envelope import EventBase, Stamp
from contracts.intake import ConsentRecorded, EligibilityDecided
from contracts.scheduling import AppointmentBooked
from contracts.vocabulary import AppointmentKind, ConsentKind, CoursePhase, Decision, Protocol
from services.session.absorb import absorb
from services.session.discharge import DischargePatient, decide_discharge
from services.session.domain import (
    CheckIn,
    RecordVitals,
    decide_check_in,
    decide_vitals,
    session_id_for,
)
from services.session.dosing import AdministerDose, decide_dose
from services.session.record import TreatmentRecord
from services.session.rules import SessionRules

PATIENT, SITE, APPOINTMENT, SESSION = "pat-1", "site-north", "apt-1", "ses-apt-1"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RULES = SessionRules()


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def stamp_at(now: datetime) -> Stamp:
    ids = (UUID(int=i) for i in itertools.count(1))
    return Stamp(now=now, producer="session", correlation_id=UUID(int=0), new_id=lambda: next(ids))


def upstream(event_type: type[EventBase], **payload: object) -> EventBase:
    """An upstream fact from three days before the treatment day."""
    return upstream_at(event_type, T0 - timedelta(days=3), **payload)


def upstream_at(event_type: type[EventBase], at: datetime, **payload: object) -> EventBase:
    return event_type(
        event_id=uuid4(),
        occurred_at=at,
        patient_id=PATIENT,
        site_id=SITE,
        correlation_id=uuid4(),
        producer="scheduling",
        **payload,
    )


def booked(
    protocol: Protocol = Protocol.ESKETAMINE_TRD,
    dose_number: int = 1,
    appointment: str = APPOINTMENT,
) -> EventBase:
    return upstream(
        AppointmentBooked,
        appointment_id=appointment,
        kind=AppointmentKind.DOSING,
        starts_at=T0,
        ends_at=minutes(180),
        dose_number=dose_number,
        protocol=protocol,
        course_phase=CoursePhase.INDUCTION,
    )


def rems_consent(given: bool = True, at: datetime = T0 - timedelta(days=3)) -> EventBase:
    return upstream_at(ConsentRecorded, at, consent=ConsentKind.REMS_ENROLMENT, given=given)


def eligibility(
    decision: Decision = Decision.APPROVED, at: datetime = T0 - timedelta(days=3)
) -> EventBase:
    return upstream_at(EligibilityDecided, at, decision=decision, decided_by="dr-psy")


def treatment_consent(given: bool = True, at: datetime = T0 - timedelta(days=3)) -> EventBase:
    return upstream_at(ConsentRecorded, at, consent=ConsentKind.TREATMENT, given=given)


def record_with(
    *events: EventBase, enrolled: bool = True, approved: bool = True, consented: bool = True
) -> TreatmentRecord:
    """The patient's record after `events`, which follow what intake sent three days before the
    treatment day: an approval, treatment consent and REMS enrolment, unless told otherwise."""
    record: TreatmentRecord | None = None
    before = [
        *([eligibility()] if approved else []),
        *([treatment_consent()] if consented else []),
        *([rems_consent()] if enrolled else []),
    ]
    for event in (*before, *events):
        record = absorb(event, record)
    assert record is not None
    return record


def checked_in(record: TreatmentRecord) -> TreatmentRecord:
    record, _ = decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)
    return record


def vitals(
    record: TreatmentRecord,
    at: datetime,
    systolic: int = 128,
    diastolic: int = 78,
    session: str = SESSION,
) -> tuple[TreatmentRecord, Sequence[EventBase]]:
    command = RecordVitals(session, systolic, diastolic, heart_rate=72, spo2=98, observed_at=at)
    return decide_vitals(record, command, stamp_at(at), RULES)


def dose(
    record: TreatmentRecord,
    at: datetime,
    mg: float = 56,
    weight_kg: float | None = None,
    session: str = SESSION,
) -> tuple[TreatmentRecord, Sequence[EventBase]]:
    command = AdministerDose(session, mg, "LOT-42", weight_kg, "nurse-ada", observed_at=at)
    return decide_dose(record, command, stamp_at(at), RULES)


def discharge(
    record: TreatmentRecord,
    at: datetime,
    session: str = SESSION,
    bp_before: bool = True,
    **overrides: bool,
) -> tuple[TreatmentRecord, Sequence[EventBase]]:
    """Discharge at `at` with every condition met unless overridden; with `bp_before`, the
    nurse first charts the pre-discharge BP (128/78, 5 min before) when none is that recent."""
    readings = record.sessions[session].vitals if session in record.sessions else []
    recent = readings and readings[-1].observed_at >= at - timedelta(minutes=15)
    if (
        bp_before
        and readings
        and not recent
        and readings[-1].observed_at < at - timedelta(minutes=5)
    ):
        record, _ = vitals(record, at - timedelta(minutes=5), session=session)
    conditions = (
        dict(
            sedation_resolved=True,
            dissociation_resolved=True,
            respiratory_ok=True,
            vitals_acceptable=True,
            transport_confirmed=True,
        )
        | overrides
    )
    command = DischargePatient(
        session,
        sedation_resolved=conditions["sedation_resolved"],
        dissociation_resolved=conditions["dissociation_resolved"],
        respiratory_ok=conditions["respiratory_ok"],
        vitals_acceptable=conditions["vitals_acceptable"],
        transport_confirmed=conditions["transport_confirmed"],
        observed_at=at,
    )
    return decide_discharge(record, command, stamp_at(at), RULES)


def dosed_esketamine(dose_number: int = 1) -> TreatmentRecord:
    """Checked in at T0, pre-dose BP fine at +5, dosed at +10, BP rechecked at +50 (~40 min)."""
    record = checked_in(record_with(booked(dose_number=dose_number)))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10))
    record, _ = vitals(record, minutes(50))
    return record


def treatment_day(
    record: TreatmentRecord,
    appointment: str,
    start: datetime,
    protocol: Protocol = Protocol.ESKETAMINE_TRD,
    discharged: bool = True,
) -> TreatmentRecord:
    """A whole treatment day of a booked appointment from `start`: check-in, pre-dose BP at +5,
    dose at +10, BP at +50 and, when `discharged`, discharge 130 min after the dose."""
    session = session_id_for(appointment)
    record, _ = decide_check_in(record, CheckIn(appointment, start), stamp_at(start), RULES)
    record, _ = vitals(record, start + timedelta(minutes=5), session=session)
    iv = protocol is Protocol.IV_KETAMINE_SERIES
    mg, weight = (35.0, 70.0) if iv else (56.0, None)
    record, _ = dose(record, start + timedelta(minutes=10), mg, weight, session=session)
    record, _ = vitals(record, start + timedelta(minutes=50), session=session)
    if discharged:
        record, _ = discharge(record, start + timedelta(minutes=140), session=session)
    return record
