"""Safety invariants 1-2 on the treatment day: one day at a time, dose gaps, facts in order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from contracts.envelope import EventBase
from contracts.intake import Identity, MedicationInteractionFlagged, PatientReferred, RiskFlagRaised
from contracts.scheduling import AppointmentCancelled
from contracts.session import DoseAdministered, PatientCheckedIn
from contracts.vocabulary import AdverseEventSeverity, Decision, Interaction, Protocol
from harness.events import SYNTHETIC_DATA_KEY
from services.runtime.crypto import seal
from services.session.absorb import absorb
from services.session.chart import ObservedAtOutOfRangeError
from services.session.domain import (
    CheckIn,
    ObservedBeforeReferral,
    TreatmentDayAlreadyOpen,
    decide_check_in,
    session_id_for,
)
from services.session.dosing import DoseBeforeMinimumGap, days_apart
from services.session.gates import (
    AcknowledgeInteractions,
    OverrideDoseHold,
    decide_acknowledge_interactions,
    decide_override_hold,
)
from services.session.invariants import EligibilityNotApproved, RemsEnrolmentMissing
from services.session.record import SessionCancelled, TreatmentRecord
from services.session.rules import SessionRules
from services.session.safety import (
    AcknowledgeRiskFlag,
    ReportAdverseEvent,
    decide_acknowledge_flag,
    decide_adverse_event,
)
from tests.unit.session.builders import (
    APPOINTMENT,
    PATIENT,
    RULES,
    SESSION,
    SITE,
    T0,
    booked,
    checked_in,
    dose,
    dosed_esketamine,
    eligibility,
    minutes,
    record_with,
    rems_consent,
    stamp_at,
    treatment_day,
    upstream,
    upstream_at,
    vitals,
)

SECOND = "apt-2"
SECOND_SESSION = session_id_for(SECOND)


def two_bookings(protocol: Protocol = Protocol.ESKETAMINE_TRD) -> list[EventBase]:
    return [
        booked(protocol=protocol, dose_number=1),
        booked(protocol=protocol, dose_number=2, appointment=SECOND),
    ]


def check_in(record: TreatmentRecord, appointment: str, at: datetime) -> TreatmentRecord:
    updated, _ = decide_check_in(record, CheckIn(appointment, at), stamp_at(at), RULES)
    return updated


# One treatment day at a time (DESIGN safety invariant 2)


def test_esketamine_check_in_59_minutes_after_an_undischarged_dose_is_refused() -> None:
    """Regression: a second esketamine session was opened and dosed 59 min after the first
    dose while the first session was still open."""
    record = treatment_day(record_with(*two_bookings()), APPOINTMENT, T0, discharged=False)

    with pytest.raises(TreatmentDayAlreadyOpen) as refused:
        decide_check_in(record, CheckIn(SECOND, minutes(60)), stamp_at(minutes(60)), RULES)

    assert refused.value.reasons == (
        f"session {SESSION} checked in at {T0.isoformat()} is not discharged",
    )


def test_iv_check_in_79_minutes_after_an_undischarged_infusion_is_refused() -> None:
    """Regression: a second IV infusion was charted 79 min after the previous one."""
    iv = Protocol.IV_KETAMINE_SERIES
    record = treatment_day(record_with(*two_bookings(iv)), APPOINTMENT, T0, iv, discharged=False)

    with pytest.raises(TreatmentDayAlreadyOpen):
        decide_check_in(record, CheckIn(SECOND, minutes(80)), stamp_at(minutes(80)), RULES)


def test_check_in_charted_before_the_previous_discharge_is_refused() -> None:
    record = treatment_day(record_with(*two_bookings()), APPOINTMENT, T0)

    late = minutes(139)
    with pytest.raises(TreatmentDayAlreadyOpen):
        decide_check_in(record, CheckIn(SECOND, late), stamp_at(minutes(600)), RULES)


def test_cancelling_an_undosed_session_closes_it_for_the_next_treatment_day() -> None:
    record = checked_in(record_with(*two_bookings()))
    cancelled = absorb(
        upstream(AppointmentCancelled, appointment_id=APPOINTMENT, reason="sent home"), record
    )

    with pytest.raises(SessionCancelled):
        vitals(cancelled, minutes(5))
    later = T0 + timedelta(days=3)
    _, events = decide_check_in(cancelled, CheckIn(SECOND, later), stamp_at(later), RULES)
    assert [type(e) for e in events] == [PatientCheckedIn]


# Minimum gap between doses (DESIGN safety invariant 2)


def test_esketamine_dose_the_day_after_the_previous_one_is_refused_naming_the_gap() -> None:
    record = treatment_day(record_with(*two_bookings()), APPOINTMENT, T0)
    next_day = T0 + timedelta(days=1)
    record = check_in(record, SECOND, next_day)
    record, _ = vitals(record, next_day + timedelta(minutes=5), session=SECOND_SESSION)

    with pytest.raises(DoseBeforeMinimumGap) as refused:
        dose(record, next_day + timedelta(minutes=10), session=SECOND_SESSION)

    assert refused.value.reasons == ("previous dose 24 h ago; minimum gap 2 days",)


def test_iv_infusions_two_site_days_apart_are_accepted_even_under_48_hours() -> None:
    """Scheduling books Mon/Wed/Fri by the site's calendar days: Mon 15:00 then Wed 08:00
    (New York) is 41 h, and two days apart as scheduling counts them."""
    iv = Protocol.IV_KETAMINE_SERIES
    monday = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    wednesday = datetime(2025, 3, 5, 13, 0, tzinfo=UTC)
    record = treatment_day(record_with(*two_bookings(iv)), APPOINTMENT, monday, iv)
    record = check_in(record, SECOND, wednesday)
    record, _ = vitals(record, wednesday + timedelta(minutes=5), session=SECOND_SESSION)

    _, events = dose(record, wednesday + timedelta(minutes=10), 35, 70, session=SECOND_SESSION)

    assert [type(e) for e in events] == [DoseAdministered]


def test_dose_gap_counts_whole_days_for_a_site_without_a_configured_time_zone() -> None:
    rules = SessionRules(site_time_zones={})
    monday = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)

    assert days_apart(monday, monday + timedelta(hours=41), SITE, rules) == 1
    assert days_apart(monday, monday + timedelta(hours=41), SITE, RULES) == 2


# Facts in order (DESIGN safety invariant 1)


def referred_at(at: datetime) -> EventBase:
    return upstream_at(
        PatientReferred,
        at,
        referral_source="primary_care",
        identity=seal(
            Identity(given_name="Test", family_name="Patient", date_of_birth=date(1980, 1, 1)),
            PATIENT,
            UUID(int=7),
            SYNTHETIC_DATA_KEY,
        ),
    )


def test_check_in_charted_before_the_referral_was_received_is_refused() -> None:
    """Regression: a check-in was accepted charted earlier than the patient's referral."""
    record = record_with(referred_at(minutes(30)), booked())

    with pytest.raises(ObservedBeforeReferral) as refused:
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(minutes(60)), RULES)

    assert refused.value.reasons == (
        f"check-in observed at {T0.isoformat()} precedes the referral received at "
        f"{minutes(30).isoformat()}",
    )


def test_a_late_entry_after_the_referral_is_accepted_and_identity_is_not_kept() -> None:
    record = record_with(referred_at(T0 - timedelta(days=5)), booked())

    updated, events = decide_check_in(
        record, CheckIn(APPOINTMENT, T0), stamp_at(minutes(90)), RULES
    )

    assert [type(e) for e in events] == [PatientCheckedIn]
    assert "Test" not in updated.model_dump_json()


def test_check_in_after_a_decline_is_refused() -> None:
    record = record_with(booked(), eligibility(), eligibility(Decision.DECLINED))

    with pytest.raises(EligibilityNotApproved):
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)


def test_rems_withdrawal_after_check_in_stops_the_esketamine_dose() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))
    record = absorb(rems_consent(given=False, at=minutes(6)), record)

    with pytest.raises(RemsEnrolmentMissing):
        dose(record, minutes(10))


def test_hold_override_charted_before_the_reading_that_caused_it_is_rejected() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=150, diastolic=95)
    command = OverrideDoseHold(SESSION, "dr-psy", "baseline hypertension", minutes(4))

    with pytest.raises(ObservedAtOutOfRangeError):
        decide_override_hold(record, command, stamp_at(minutes(8)), RULES)


def test_dose_charted_before_the_hold_override_is_rejected() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=150, diastolic=95)
    command = OverrideDoseHold(SESSION, "dr-psy", "baseline hypertension", minutes(8))
    record, _ = decide_override_hold(record, command, stamp_at(minutes(8)), RULES)

    with pytest.raises(ObservedAtOutOfRangeError):
        dose(record, minutes(7))


def test_interaction_acknowledgement_charted_before_the_check_in_is_rejected() -> None:
    flagged = upstream(
        MedicationInteractionFlagged,
        interaction=Interaction.LEVOTHYROXINE,
        medication="levothyroxine",
        monitoring="monitor BP and HR closely",
    )
    record = checked_in(record_with(booked(), flagged))
    command = AcknowledgeInteractions(SESSION, "dr-psy", minutes(-5))

    with pytest.raises(ObservedAtOutOfRangeError):
        decide_acknowledge_interactions(record, command, stamp_at(minutes(2)), RULES)


def test_risk_flag_acknowledgement_charted_before_its_adverse_event_is_rejected() -> None:
    report = ReportAdverseEvent(
        SESSION, "hypertension", AdverseEventSeverity.SEVERE, True, "rn-1", minutes(30)
    )
    record, events = decide_adverse_event(dosed_esketamine(), report, stamp_at(minutes(30)), RULES)
    flag = next(e for e in events if isinstance(e, RiskFlagRaised))
    command = AcknowledgeRiskFlag(SESSION, flag.flag_id, "dr-psy", minutes(25))

    with pytest.raises(ObservedAtOutOfRangeError):
        decide_acknowledge_flag(record, command, stamp_at(minutes(40)), RULES)
