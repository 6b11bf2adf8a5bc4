"""Safety invariants 3-6 on the treatment day: facts owned by other services, evaluated at the
charted time of each step whatever order their events arrive in, and doses that slipped
through the window between services raised rather than hidden."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from contracts.envelope import EventBase
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import (
    AppointmentCancelled,
    AppointmentRescheduled,
    CourseExtended,
    CourseScheduled,
    CourseTransferred,
    SiteCertificationChanged,
)
from contracts.session import UnsafeDoseDetected
from contracts.vocabulary import ConsentKind, Decision, Protocol, RiskKind, RiskSeverity
from services.session.absorb import absorb
from services.session.discharge import DischargeConditionsUnmet
from services.session.domain import CheckIn, decide_check_in
from services.session.dosing import DoseOutOfOrder, PreDoseVitalsStale
from services.session.gates import (
    AcceptDischargeBloodPressure,
    NoReadingToAccept,
    decide_accept_discharge_bp,
)
from services.session.invariants import (
    AppointmentWasCancelled,
    EligibilityNotApproved,
    NoPlannedDoseLeft,
    OpenRiskFlag,
    RemsEnrolmentMissing,
    SiteNotRemsCertified,
    TreatmentConsentMissing,
    decide_unsafe_doses,
)
from services.session.record import SessionCancelled, TreatmentRecord
from tests.unit.session.builders import (
    APPOINTMENT,
    PATIENT,
    RULES,
    SESSION,
    SITE,
    T0,
    booked,
    checked_in,
    discharge,
    dose,
    dosed_esketamine,
    eligibility,
    minutes,
    record_with,
    rems_consent,
    stamp_at,
    upstream_at,
    vitals,
)

OTHER_SITE = "site-south"


def ready_to_dose(*events: EventBase) -> TreatmentRecord:
    """Checked in at T0 with a passing pre-dose BP at +5; `events` heard after the check-in."""
    record, _ = vitals(checked_in(record_with(booked())), minutes(5))
    for event in events:
        record = absorb(event, record)
    return record


def refusal_of(error: pytest.ExceptionInfo[Exception]) -> list[str]:
    return list(getattr(error.value, "reasons", ()))


def flag(at: datetime, producer: str = "coaching", flag_id: UUID | None = None) -> EventBase:
    return upstream_at(
        RiskFlagRaised,
        at,
        flag_id=flag_id or uuid4(),
        kind=RiskKind.PHQ9_ITEM9,
        severity=RiskSeverity.URGENT,
        acknowledge_by=at + timedelta(hours=1),
    ).model_copy(update={"producer": producer})


def site_certified(certified: bool, at: datetime, site: str = SITE) -> EventBase:
    event = upstream_at(
        SiteCertificationChanged, at, rems_certified=certified, changed_by="admin-1"
    )
    return event.model_copy(update={"site_id": site})


# Invariant 3: at the moment of each dose


def test_a_treatment_consent_withdrawn_after_check_in_refuses_the_dose() -> None:
    withdrawn = upstream_at(ConsentRecorded, minutes(7), consent=ConsentKind.TREATMENT, given=False)
    record = ready_to_dose(withdrawn)

    with pytest.raises(TreatmentConsentMissing) as refused:
        dose(record, minutes(10))

    assert refusal_of(refused) == ["treatment consent withdrawn before 2025-03-03T09:10+00:00"]


def test_no_treatment_day_begins_without_a_recorded_treatment_consent() -> None:
    record = record_with(booked(), consented=False)

    with pytest.raises(TreatmentConsentMissing):
        checked_in(record)


def test_a_late_entry_before_the_withdrawal_is_still_accepted() -> None:
    withdrawn = upstream_at(
        ConsentRecorded, minutes(30), consent=ConsentKind.TREATMENT, given=False
    )
    record, events = dose(ready_to_dose(withdrawn), minutes(10))

    assert record.sessions[SESSION].dose is not None
    assert len(events) == 1


def test_a_decline_after_check_in_refuses_the_dose() -> None:
    declined = eligibility(Decision.DECLINED, at=minutes(6))

    with pytest.raises(EligibilityNotApproved):
        dose(ready_to_dose(declined), minutes(10))


def test_check_in_before_the_approval_took_effect_is_refused() -> None:
    record = record_with(booked(), approved=False)
    record = absorb(eligibility(at=minutes(30)), record)

    with pytest.raises(EligibilityNotApproved) as refused:
        checked_in(record)

    assert "no eligibility approval in force" in refusal_of(refused)[0]


def test_a_rems_enrolment_ended_before_the_dose_refuses_esketamine() -> None:
    with pytest.raises(RemsEnrolmentMissing):
        dose(ready_to_dose(rems_consent(given=False, at=minutes(8))), minutes(10))


def test_a_site_that_lost_rems_certification_before_the_dose_cannot_dose_esketamine() -> None:
    record = ready_to_dose(site_certified(False, minutes(8)))

    with pytest.raises(SiteNotRemsCertified) as refused:
        dose(record, minutes(10))
    assert refusal_of(refused) == [f"site {SITE} not REMS-certified at 2025-03-03T09:10+00:00"]

    recertified = absorb(site_certified(True, minutes(9)), record)
    dosed, _ = dose(recertified, minutes(10))
    assert dosed.sessions[SESSION].dose is not None


def test_another_sites_certification_does_not_decide_this_site() -> None:
    record, _ = dose(ready_to_dose(site_certified(False, minutes(8), OTHER_SITE)), minutes(10))

    assert record.sessions[SESSION].dose is not None


def test_a_pre_dose_reading_older_than_an_hour_does_not_clear_the_dose() -> None:
    record = ready_to_dose()

    with pytest.raises(PreDoseVitalsStale) as refused:
        dose(record, minutes(5 + 61))

    assert refusal_of(refused) == ["last pre-dose BP 61 min before the dose; at most 60"]
    dosed, _ = dose(record, minutes(5 + 60))
    assert dosed.sessions[SESSION].dose is not None


def test_a_cancelled_appointment_is_not_dosed() -> None:
    cancelled = upstream_at(
        AppointmentCancelled, minutes(7), appointment_id=APPOINTMENT, reason="x"
    )

    with pytest.raises(SessionCancelled):
        dose(ready_to_dose(cancelled), minutes(10))


def test_a_cancellation_heard_before_its_booking_keeps_the_appointment_cancelled() -> None:
    cancelled = upstream_at(
        AppointmentCancelled, T0 - timedelta(days=1), appointment_id=APPOINTMENT, reason="x"
    )
    record = record_with(cancelled, booked())

    assert APPOINTMENT not in record.bookings


# Invariant 6: course changes are prescribers' decisions


def course(planned: int) -> EventBase:
    return upstream_at(
        CourseScheduled,
        T0 - timedelta(days=3),
        course_id="crs-1",
        protocol=Protocol.ESKETAMINE_TRD,
        planned_doses=planned,
    )


def test_a_dose_beyond_the_prescribers_plan_is_refused_until_a_prescriber_extends_it() -> None:
    record = record_with(course(1), booked(dose_number=2))

    with pytest.raises(NoPlannedDoseLeft) as refused:
        checked_in(record)
    assert refusal_of(refused) == [
        "dose 2; the course plans 1 doses; a prescriber extends the course"
    ]

    extended = upstream_at(
        CourseExtended,
        T0 - timedelta(days=1),
        course_id="crs-1",
        planned_doses=4,
        previous_planned_doses=1,
        extended_by="dr-psy",
        reason="partial response",
    )
    assert checked_in(absorb(extended, record)).sessions[SESSION].dose_number == 2


def transferred_at(at: datetime) -> EventBase:
    return upstream_at(
        CourseTransferred,
        at,
        course_id="crs-1",
        from_site_id=SITE,
        to_site_id=OTHER_SITE,
        reason="moved house",
    )


def test_a_transfer_moves_the_open_session_to_the_new_site() -> None:
    record = ready_to_dose(transferred_at(minutes(6)))

    assert record.sessions[SESSION].site_id == OTHER_SITE
    assert record.bookings[APPOINTMENT].site_id == OTHER_SITE


def test_a_dose_after_the_new_sites_certification_lapsed_is_refused_after_a_transfer() -> None:
    record = ready_to_dose(
        transferred_at(minutes(6)), site_certified(False, minutes(7), OTHER_SITE)
    )

    with pytest.raises(SiteNotRemsCertified):
        dose(record, minutes(10))


def test_an_appointment_moved_to_another_site_takes_its_open_session_along() -> None:
    moved = upstream_at(
        AppointmentRescheduled,
        minutes(6),
        appointment_id=APPOINTMENT,
        starts_at=T0,
        ends_at=minutes(180),
        reason="chair broke",
    ).model_copy(update={"site_id": OTHER_SITE})

    assert ready_to_dose(moved).sessions[SESSION].site_id == OTHER_SITE


# Invariant 4: risk flags block treatment wherever raised


def test_a_follow_up_phq9_flag_from_coaching_blocks_check_in_and_dose() -> None:
    with pytest.raises(OpenRiskFlag):
        checked_in(record_with(booked(), flag(T0 - timedelta(days=1))))
    with pytest.raises(OpenRiskFlag) as refused:
        dose(ready_to_dose(flag(minutes(7))), minutes(10))
    assert "phq9_item9 flag" in refusal_of(refused)[0]


def test_an_acknowledgement_from_intake_releases_the_flag_whichever_arrives_first() -> None:
    flag_id = uuid4()
    acknowledged = upstream_at(
        RiskFlagAcknowledged, minutes(8), flag_id=flag_id, acknowledged_by="dr-psy"
    )
    for events in (
        (flag(minutes(6), flag_id=flag_id), acknowledged),
        (acknowledged, flag(minutes(6), flag_id=flag_id)),
    ):
        record = ready_to_dose(*events)
        with pytest.raises(OpenRiskFlag):
            dose(record, minutes(7))
        dosed, _ = dose(record, minutes(9))
        assert dosed.sessions[SESSION].dose is not None


# Invariant 2: dose n+1 only after dose n


def test_a_dose_number_given_after_a_higher_one_is_refused() -> None:
    record = dosed_esketamine(dose_number=2)
    record, _ = discharge(record, minutes(140))
    later = T0 + timedelta(days=3)
    rebooked = booked(appointment="apt-0", dose_number=1).model_copy(update={"starts_at": later})
    record = absorb(rebooked, record)
    record, _ = decide_check_in(record, CheckIn("apt-0", later), stamp_at(later), RULES)
    record, _ = vitals(record, later + timedelta(minutes=5), session="ses-apt-0")

    with pytest.raises(DoseOutOfOrder) as refused:
        dose(record, later + timedelta(minutes=10), session="ses-apt-0")
    assert refusal_of(refused) == [
        "dose 1 at 2025-03-06T09:10:00+00:00; dose 2 at 2025-03-03T09:10:00+00:00"
    ]


# Invariant 5: discharge


def test_discharge_on_a_reading_above_the_limit_needs_a_prescribers_acceptance() -> None:
    record = dosed_esketamine()
    record, _ = vitals(record, minutes(125), systolic=168, diastolic=98)

    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(record, minutes(130))
    assert refusal_of(refused) == [
        "vitals_acceptable: last BP 168/98 above 140/90 needs a prescriber's acceptance"
    ]

    accept = AcceptDischargeBloodPressure(SESSION, "dr-psy", "baseline hypertension", minutes(128))
    accepted, events = decide_accept_discharge_bp(record, accept, stamp_at(minutes(128)), RULES)
    assert [type(e).__name__ for e in events] == ["DischargeBloodPressureAccepted"]
    discharged, _ = discharge(accepted, minutes(130))
    assert discharged.sessions[SESSION].discharge is not None

    higher, _ = vitals(accepted, minutes(129), systolic=175, diastolic=99)
    with pytest.raises(DischargeConditionsUnmet):
        discharge(higher, minutes(130))


def test_only_a_reading_above_the_limit_is_accepted_and_never_before_it() -> None:
    record = dosed_esketamine()
    accept = AcceptDischargeBloodPressure(SESSION, "dr-psy", "fine", minutes(60))
    with pytest.raises(NoReadingToAccept):
        decide_accept_discharge_bp(record, accept, stamp_at(minutes(60)), RULES)


def test_discharge_without_a_reading_in_the_last_15_minutes_is_refused_naming_it() -> None:
    record = dosed_esketamine()

    with pytest.raises(DischargeConditionsUnmet) as refused:
        discharge(record, minutes(135), bp_before=False)

    assert refusal_of(refused) == [
        "bp_before_discharge: no blood pressure in the 15 min before discharge"
    ]
    discharged, _ = discharge(record, minutes(135))
    assert discharged.sessions[SESSION].discharge is not None


# The race window: a fact heard after the dose it would have refused


def test_a_flag_raised_before_the_dose_but_heard_after_it_raises_the_dose() -> None:
    record, _ = dose(ready_to_dose(), minutes(10))
    record = absorb(flag(minutes(9)), record)

    raised, events = decide_unsafe_doses(record, stamp_at(minutes(12)), RULES)

    detected, prescriber_flag = events
    assert isinstance(detected, UnsafeDoseDetected)
    assert (detected.rule, detected.session_id, detected.dosed_at) == (
        "OpenRiskFlag",
        SESSION,
        minutes(10),
    )
    assert detected.prescriber_id == "dr-psy"
    assert isinstance(prescriber_flag, RiskFlagRaised)
    assert (prescriber_flag.kind, prescriber_flag.severity) == (
        RiskKind.UNSAFE_DOSE,
        RiskSeverity.URGENT,
    )
    assert str(prescriber_flag.flag_id) in raised.open_risk_flags
    again, repeated = decide_unsafe_doses(raised, stamp_at(minutes(13)), RULES)
    assert repeated == []
    assert again == raised


def test_a_withdrawal_charted_before_the_dose_but_heard_after_it_raises_the_dose() -> None:
    record, _ = dose(ready_to_dose(), minutes(10))
    late = upstream_at(ConsentRecorded, minutes(8), consent=ConsentKind.TREATMENT, given=False)

    _, events = decide_unsafe_doses(absorb(late, record), stamp_at(minutes(20)), RULES)

    assert [e.rule for e in events if isinstance(e, UnsafeDoseDetected)] == [
        "TreatmentConsentMissing"
    ]


def test_facts_after_the_dose_raise_nothing() -> None:
    record, _ = dose(ready_to_dose(), minutes(10))
    later = [
        flag(minutes(11)),
        upstream_at(ConsentRecorded, minutes(11), consent=ConsentKind.TREATMENT, given=False),
        upstream_at(EligibilityDecided, minutes(11), decision=Decision.DECLINED, decided_by="d"),
        site_certified(False, minutes(11)),
        upstream_at(AppointmentCancelled, minutes(11), appointment_id=APPOINTMENT, reason="x"),
    ]
    for event in later:
        record = absorb(event, record)

    assert decide_unsafe_doses(record, stamp_at(minutes(20)), RULES)[1] == []


def test_a_cancellation_before_the_dose_heard_after_it_raises_the_dose() -> None:
    record, _ = dose(ready_to_dose(), minutes(10))
    late = upstream_at(AppointmentCancelled, minutes(9), appointment_id=APPOINTMENT, reason="x")

    _, events = decide_unsafe_doses(absorb(late, record), stamp_at(minutes(20)), RULES)

    detected = [e for e in events if isinstance(e, UnsafeDoseDetected)]
    assert [(e.rule, e.patient_id) for e in detected] == [("AppointmentWasCancelled", PATIENT)]
    assert AppointmentWasCancelled.__name__ == detected[0].rule
