"""Treatment-day rules, pure: check-in, BP gate, dose, discharge and the REMS form."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from contracts.intake import (
    MedicationInteractionFlagged,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import AppointmentCancelled
from contracts.session import (
    DoseAdministered,
    DoseHeld,
    MonitoringFormDue,
    PatientCheckedIn,
    SessionDischarged,
    VitalsRecorded,
)
from contracts.vocabulary import (
    CoursePhase,
    Interaction,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.session.absorb import absorb
from services.session.chart import ObservedAtOutOfRangeError
from services.session.discharge import DischargeBeforeDose, DischargeConditionsUnmet
from services.session.domain import (
    CheckIn,
    NoDosingBooking,
    RecordVitals,
    decide_check_in,
    decide_vitals,
)
from services.session.dosing import (
    AlreadyDosed,
    DoseHeldForBloodPressure,
    EsketamineDoseNotAllowed,
    IvDoseNotWeightBased,
    IvWeightRequired,
    PreDoseVitalsMissing,
)
from services.session.invariants import OpenRiskFlag
from services.session.record import SessionAlreadyDischarged
from tests.unit.session.builders import (
    APPOINTMENT,
    RULES,
    SESSION,
    T0,
    booked,
    checked_in,
    discharge,
    dose,
    dosed_esketamine,
    minutes,
    record_with,
    stamp_at,
    upstream,
    vitals,
)


def refusal_reasons(error: pytest.ExceptionInfo[DischargeConditionsUnmet]) -> list[str]:
    return list(error.value.reasons)


# Check-in


def test_check_in_opens_a_session_for_a_booked_dosing_appointment() -> None:
    interaction = upstream(
        MedicationInteractionFlagged,
        interaction=Interaction.LEVOTHYROXINE,
        medication="levothyroxine",
        monitoring="monitor BP and HR closely",
    )
    record = record_with(booked(), interaction)

    updated, events = decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)

    assert [type(e) for e in events] == [PatientCheckedIn]
    assert isinstance(events[0], PatientCheckedIn)
    assert events[0].session_id == SESSION
    assert events[0].protocol is Protocol.ESKETAMINE_TRD
    shown = updated.sessions[SESSION].interactions
    assert [flag.interaction for flag in shown] == [Interaction.LEVOTHYROXINE]


def test_checking_in_twice_for_the_same_appointment_returns_the_same_session() -> None:
    record = checked_in(record_with(booked()))

    again, events = decide_check_in(record, CheckIn(APPOINTMENT, minutes(3)), stamp_at(T0), RULES)

    assert events == []
    assert again.sessions[SESSION].checked_in_at == T0


def test_check_in_without_a_booking_is_refused() -> None:
    record = record_with(booked(appointment="apt-other"))

    with pytest.raises(NoDosingBooking):
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)


def test_check_in_for_a_cancelled_appointment_is_refused() -> None:
    cancelled = upstream(AppointmentCancelled, appointment_id=APPOINTMENT, reason="patient ill")
    record = record_with(booked(), cancelled)

    with pytest.raises(NoDosingBooking):
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)


def test_check_in_while_a_risk_flag_is_open_is_refused_until_it_is_acknowledged() -> None:
    flag_id = uuid4()
    raised = upstream(
        RiskFlagRaised,
        flag_id=flag_id,
        kind=RiskKind.PHQ9_ITEM9,
        severity=RiskSeverity.HIGH,
        acknowledge_by=T0,
    )
    record = record_with(booked(), raised)

    with pytest.raises(OpenRiskFlag):
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)

    acknowledged = upstream(RiskFlagAcknowledged, flag_id=flag_id, acknowledged_by="dr-who")
    _, events = decide_check_in(
        absorb(acknowledged, record), CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES
    )
    assert [type(e) for e in events] == [PatientCheckedIn]


def test_check_in_observed_more_than_two_minutes_ahead_of_the_clock_is_rejected() -> None:
    record = record_with(booked())

    with pytest.raises(ObservedAtOutOfRangeError):
        decide_check_in(record, CheckIn(APPOINTMENT, minutes(3)), stamp_at(T0), RULES)


# Pre-dose blood-pressure gate


def test_pre_dose_bp_of_150_over_95_holds_the_dose() -> None:
    record = checked_in(record_with(booked()))

    record, events = vitals(record, minutes(5), systolic=150, diastolic=95)

    assert [type(e) for e in events] == [VitalsRecorded, DoseHeld]
    assert record.sessions[SESSION].dose_held
    with pytest.raises(DoseHeldForBloodPressure):
        dose(record, minutes(10))


def test_recheck_at_130_over_80_releases_the_hold() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=150, diastolic=95)

    record, events = vitals(record, minutes(15), systolic=130, diastolic=80)

    assert [type(e) for e in events] == [VitalsRecorded]
    assert not record.sessions[SESSION].dose_held
    _, dosed = dose(record, minutes(20))
    assert [type(e) for e in dosed] == [DoseAdministered]


def test_bp_exactly_at_140_over_90_does_not_hold_the_dose() -> None:
    record = checked_in(record_with(booked()))

    _, events = vitals(record, minutes(5), systolic=140, diastolic=90)

    assert [type(e) for e in events] == [VitalsRecorded]


def test_diastolic_alone_above_90_holds_the_dose() -> None:
    record = checked_in(record_with(booked()))

    _, events = vitals(record, minutes(5), systolic=130, diastolic=92)

    assert DoseHeld in [type(e) for e in events]


def test_post_dose_vitals_carry_minutes_since_dose_and_never_hold() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10))

    _, events = vitals(record, minutes(50), systolic=165, diastolic=100)

    assert [type(e) for e in events] == [VitalsRecorded]
    assert isinstance(events[0], VitalsRecorded)
    assert events[0].minutes_since_dose == 40


def test_vitals_observed_before_check_in_are_rejected() -> None:
    record = checked_in(record_with(booked()))

    with pytest.raises(ObservedAtOutOfRangeError):
        vitals(record, minutes(-1))


def test_retroactive_vitals_carry_their_clinical_time() -> None:
    record = checked_in(record_with(booked()))
    command = RecordVitals(SESSION, 128, 78, heart_rate=72, spo2=98, observed_at=minutes(5))

    _, events = decide_vitals(record, command, stamp_at(minutes(30)), RULES)

    assert events[0].occurred_at == minutes(5)


# Dose


def test_dose_without_pre_dose_vitals_is_refused() -> None:
    record = checked_in(record_with(booked()))

    with pytest.raises(PreDoseVitalsMissing):
        dose(record, minutes(10))


def test_dose_is_recorded_with_the_booking_and_the_nurse() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))

    _, events = dose(record, minutes(10))

    assert isinstance(events[0], DoseAdministered)
    assert (events[0].dose_mg, events[0].dose_number, events[0].administered_by) == (
        56,
        1,
        "nurse-ada",
    )


def test_a_second_dose_in_the_same_session_is_refused() -> None:
    with pytest.raises(AlreadyDosed):
        dose(dosed_esketamine(), minutes(60))


def test_first_esketamine_dose_of_84_mg_is_refused() -> None:
    record = checked_in(record_with(booked(dose_number=1)))
    record, _ = vitals(record, minutes(5))

    with pytest.raises(EsketamineDoseNotAllowed):
        dose(record, minutes(10), mg=84)


def test_later_esketamine_doses_may_be_84_mg_but_not_70_mg() -> None:
    record = checked_in(record_with(booked(dose_number=3)))
    record, _ = vitals(record, minutes(5))

    _, events = dose(record, minutes(10), mg=84)
    assert [type(e) for e in events] == [DoseAdministered]
    with pytest.raises(EsketamineDoseNotAllowed):
        dose(record, minutes(10), mg=70)


def test_iv_dose_is_half_a_milligram_per_kilogram_within_five_percent() -> None:
    record = checked_in(record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES)))
    record, _ = vitals(record, minutes(5))

    for accepted in (35.0, 33.25, 36.75):
        _, events = dose(record, minutes(10), mg=accepted, weight_kg=70)
        assert [type(e) for e in events] == [DoseAdministered]
    for refused in (33.0, 37.0, 56.0):
        with pytest.raises(IvDoseNotWeightBased):
            dose(record, minutes(10), mg=refused, weight_kg=70)


def test_iv_dose_without_a_weight_is_refused() -> None:
    record = checked_in(record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES)))
    record, _ = vitals(record, minutes(5))

    with pytest.raises(IvWeightRequired):
        dose(record, minutes(10), mg=35)


def test_dose_charted_before_the_last_vitals_is_rejected() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))

    with pytest.raises(ObservedAtOutOfRangeError):
        dose(record, minutes(4))


# Discharge


def test_esketamine_discharge_at_119_minutes_is_refused() -> None:
    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(dosed_esketamine(), minutes(10 + 119))

    assert refusal_reasons(refused) == ["monitoring_time: 119 of 120 min"]


def test_esketamine_discharge_at_119_minutes_59_seconds_is_still_refused() -> None:
    with pytest.raises(DischargeConditionsUnmet):
        discharge(dosed_esketamine(), minutes(10 + 119 + 59 / 60))


def test_esketamine_discharge_at_120_minutes_with_conditions_met_is_accepted() -> None:
    record, events = discharge(dosed_esketamine(), minutes(10 + 120))

    discharged = events[0]
    assert isinstance(discharged, SessionDischarged)
    assert (discharged.session_id, discharged.appointment_id, discharged.protocol) == (
        SESSION,
        APPOINTMENT,
        Protocol.ESKETAMINE_TRD,
    )
    assert (discharged.dose_number, discharged.course_phase) == (1, CoursePhase.INDUCTION)
    assert discharged.monitoring_minutes == 120
    assert record.sessions[SESSION].discharge is not None


def test_discharge_without_transport_names_that_condition() -> None:
    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(dosed_esketamine(), minutes(10 + 119), transport_confirmed=False)

    assert refusal_reasons(refused) == ["monitoring_time: 119 of 120 min", "transport_confirmed"]


def test_esketamine_discharge_waits_for_sedation_dissociation_and_breathing() -> None:
    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(
            dosed_esketamine(),
            minutes(10 + 180),
            sedation_resolved=False,
            dissociation_resolved=False,
            respiratory_ok=False,
        )

    assert refusal_reasons(refused) == [
        "sedation_resolved",
        "dissociation_resolved",
        "respiratory_ok",
    ]


def test_discharge_without_a_post_dose_bp_is_refused() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10))

    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(record, minutes(10 + 120), bp_before=False)

    assert refusal_reasons(refused) == [
        "bp_40_min: no blood pressure charted from 30 min after the dose",
        "bp_before_discharge: no blood pressure in the 15 min before discharge",
    ]


def test_discharge_of_a_never_dosed_session_is_refused() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=160, diastolic=100)

    with pytest.raises(DischargeBeforeDose):
        discharge(record, minutes(200))


def test_iv_discharge_needs_the_infusion_and_an_hour_after_it() -> None:
    record = checked_in(record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES)))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10), mg=35, weight_kg=70)
    record, _ = vitals(record, minutes(50))

    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(record, minutes(10 + 99))
    assert refusal_reasons(refused) == ["monitoring_time: 99 of 100 min"]

    _, events = discharge(record, minutes(10 + 100))
    assert [type(e) for e in events] == [SessionDischarged]


def test_monitoring_form_is_due_seven_days_after_the_dose() -> None:
    _, events = discharge(dosed_esketamine(), minutes(10 + 150))

    forms = [e for e in events if isinstance(e, MonitoringFormDue)]
    assert [form.due_by for form in forms] == [minutes(10) + timedelta(days=7)]


def test_a_discharged_session_is_closed_to_further_charting() -> None:
    record, _ = discharge(dosed_esketamine(), minutes(10 + 120))

    with pytest.raises(SessionAlreadyDischarged):
        vitals(record, minutes(10 + 125))
