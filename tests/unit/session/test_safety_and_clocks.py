"""Treatment-day rules, pure: REMS enrolment, interaction acknowledgement, hold override,
adverse events, monitoring clocks and the REMS Patient Monitoring Form."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from contracts.envelope import stable_id
from contracts.intake import MedicationInteractionFlagged, RiskFlagRaised
from contracts.session import (
    AdverseEventReported,
    DoseAdministered,
    DoseHoldOverridden,
    InteractionsAcknowledged,
    MonitoringCheckOverdue,
    MonitoringFormOverdue,
    MonitoringFormSubmitted,
    PrescriberNotified,
    SessionDischarged,
)
from contracts.vocabulary import AdverseEventSeverity, Interaction, Protocol, RiskKind
from services.session.absorb import absorb
from services.session.chart import ObservedAtOutOfRangeError
from services.session.clocks import clock_index, decide_clocks
from services.session.discharge import (
    DischargePatient,
    ReadyToLeaveOutOfRangeError,
    decide_discharge,
)
from services.session.domain import CheckIn, decide_check_in
from services.session.dosing import (
    AdministerDose,
    DoseAmountRequired,
    EsketamineDoseNotAllowed,
    decide_dose,
)
from services.session.gates import (
    AcknowledgeInteractions,
    InteractionsNotAcknowledged,
    NoDoseHold,
    OverrideDoseHold,
    decide_acknowledge_interactions,
    decide_override_hold,
)
from services.session.invariants import OpenRiskFlag, RemsEnrolmentMissing
from services.session.record import TreatmentRecord
from services.session.rems_form import (
    MonitoringFormAlreadySubmitted,
    MonitoringFormIncomplete,
    MonitoringFormNotRequired,
    SubmitForm,
    decide_submit_form,
    draft,
)
from services.session.safety import (
    AcknowledgeRiskFlag,
    ReportAdverseEvent,
    RiskFlagNotFound,
    decide_acknowledge_flag,
    decide_adverse_event,
)
from tests.unit.session.builders import (
    APPOINTMENT,
    RULES,
    SESSION,
    T0,
    booked,
    checked_in,
    dose,
    dosed_esketamine,
    minutes,
    record_with,
    rems_consent,
    stamp_at,
    upstream,
    vitals,
)

LEVOTHYROXINE = dict(
    interaction=Interaction.LEVOTHYROXINE,
    medication="levothyroxine",
    monitoring="monitor BP and HR closely",
)


def leave(record: TreatmentRecord, at_minutes: float, **extra: Any) -> TreatmentRecord:
    """Chart the pre-discharge BP 5 min before, then discharge with every condition met."""
    record, _ = vitals(record, minutes(at_minutes - 5))
    ready = DischargePatient(SESSION, True, True, True, True, True, minutes(at_minutes))
    command = replace(ready, **extra)
    record, _ = decide_discharge(record, command, stamp_at(minutes(at_minutes)), RULES)
    return record


def adverse(
    record: TreatmentRecord, severity: AdverseEventSeverity, serious: bool = False, at: float = 30
) -> tuple[TreatmentRecord, list[object]]:
    command = ReportAdverseEvent(SESSION, "hypertension", severity, serious, "rn-1", minutes(at))
    updated, events = decide_adverse_event(record, command, stamp_at(minutes(at)), RULES)
    return updated, list(events)


# REMS enrolment and interactions


def test_esketamine_check_in_without_rems_enrolment_is_refused() -> None:
    record = record_with(booked(), enrolled=False)

    with pytest.raises(RemsEnrolmentMissing):
        decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)
    withdrawn = record_with(booked(), rems_consent(given=False))
    with pytest.raises(RemsEnrolmentMissing):
        decide_check_in(withdrawn, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)


def test_iv_check_in_needs_no_rems_enrolment() -> None:
    record = record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES), enrolled=False)

    _, events = decide_check_in(record, CheckIn(APPOINTMENT, T0), stamp_at(T0), RULES)

    assert len(events) == 1


def test_interaction_flags_must_be_acknowledged_before_the_dose() -> None:
    record = checked_in(
        record_with(booked(), upstream(MedicationInteractionFlagged, **LEVOTHYROXINE))
    )
    record, _ = vitals(record, minutes(5))

    with pytest.raises(InteractionsNotAcknowledged) as refused:
        dose(record, minutes(10))
    assert refused.value.reasons == ("levothyroxine",)

    command = AcknowledgeInteractions(SESSION, "rn-1", minutes(6))
    record, events = decide_acknowledge_interactions(record, command, stamp_at(minutes(6)), RULES)
    assert isinstance(events[0], InteractionsAcknowledged)
    assert events[0].interactions == [Interaction.LEVOTHYROXINE]
    again, repeated = decide_acknowledge_interactions(record, command, stamp_at(minutes(7)), RULES)
    assert repeated == []
    assert again == record
    _, dosed = dose(record, minutes(10))
    assert isinstance(dosed[0], DoseAdministered)


def test_an_interaction_flagged_after_check_in_needs_acknowledging_too() -> None:
    record = checked_in(record_with(booked()))

    record = absorb(upstream(MedicationInteractionFlagged, **LEVOTHYROXINE), record)
    record, _ = vitals(record, minutes(5))

    with pytest.raises(InteractionsNotAcknowledged):
        dose(record, minutes(10))


# Prescriber override of a blood-pressure hold


def test_a_prescriber_may_override_a_hold_with_a_reason() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=150, diastolic=95)

    command = OverrideDoseHold(SESSION, "dr-1", "chronic, stable; cardiology cleared", minutes(8))
    record, events = decide_override_hold(record, command, stamp_at(minutes(8)), RULES)

    assert isinstance(events[0], DoseHoldOverridden)
    assert (events[0].systolic, events[0].diastolic, events[0].overridden_by) == (150, 95, "dr-1")
    hold = record.sessions[SESSION].holds[0]
    assert (hold.overridden_by, hold.override_reason) == ("dr-1", command.reason)
    assert not record.sessions[SESSION].dose_held
    _, dosed = dose(record, minutes(10))
    assert isinstance(dosed[0], DoseAdministered)


def test_a_reading_above_threshold_after_an_override_holds_again() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5), systolic=150, diastolic=95)
    command = OverrideDoseHold(SESSION, "dr-1", "reviewed", minutes(8))
    record, _ = decide_override_hold(record, command, stamp_at(minutes(8)), RULES)

    record, _ = vitals(record, minutes(9), systolic=170, diastolic=105)

    assert record.sessions[SESSION].dose_held


def test_there_is_nothing_to_override_without_a_hold() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))

    command = OverrideDoseHold(SESSION, "dr-1", "just in case", minutes(8))
    with pytest.raises(NoDoseHold):
        decide_override_hold(record, command, stamp_at(minutes(8)), RULES)


# Dose amounts


def test_esketamine_doses_record_their_28_mg_device_count() -> None:
    record = checked_in(record_with(booked(dose_number=2)))
    record, _ = vitals(record, minutes(5))

    _, events = dose(record, minutes(10), mg=84)

    assert isinstance(events[0], DoseAdministered)
    assert events[0].devices == 3
    wrong = AdministerDose(SESSION, 56, "LOT", None, "rn-1", minutes(10), devices=3)
    with pytest.raises(EsketamineDoseNotAllowed):
        decide_dose(record, wrong, stamp_at(minutes(10)), RULES)


def test_iv_dose_is_computed_from_the_weight_when_no_mg_is_charted() -> None:
    record = checked_in(record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES)))
    record, _ = vitals(record, minutes(5))
    command = AdministerDose(SESSION, None, "LOT", 82.0, "rn-1", minutes(10))

    _, events = decide_dose(record, command, stamp_at(minutes(10)), RULES)

    assert isinstance(events[0], DoseAdministered)
    assert (events[0].dose_mg, events[0].infusion_minutes) == (41.0, 40)


def test_esketamine_dose_without_mg_is_refused() -> None:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))

    with pytest.raises(DoseAmountRequired):
        decide_dose(
            record,
            AdministerDose(SESSION, None, "LOT", None, "rn-1", minutes(10)),
            stamp_at(minutes(10)),
            RULES,
        )


# Adverse events


def test_a_serious_adverse_event_raises_a_flag_and_notifies_the_prescriber() -> None:
    record, events = adverse(dosed_esketamine(), AdverseEventSeverity.MODERATE, serious=True)

    types = [type(e) for e in events]
    assert types == [AdverseEventReported, RiskFlagRaised, PrescriberNotified]
    flag = events[1]
    assert isinstance(flag, RiskFlagRaised)
    assert flag.kind is RiskKind.SERIOUS_ADVERSE_EVENT
    assert flag.acknowledge_by == minutes(30) + timedelta(hours=1)
    assert flag.producer == "session"
    assert str(flag.flag_id) in record.open_risk_flags


def test_a_severe_adverse_event_counts_as_serious() -> None:
    _, events = adverse(dosed_esketamine(), AdverseEventSeverity.SEVERE)

    assert isinstance(events[0], AdverseEventReported)
    assert events[0].serious
    assert len(events) == 3


def test_a_mild_adverse_event_is_only_recorded() -> None:
    record, events = adverse(dosed_esketamine(), AdverseEventSeverity.MILD)

    assert [type(e) for e in events] == [AdverseEventReported]
    assert record.open_risk_flags == {}


def test_the_flag_of_a_serious_event_blocks_the_next_check_in_until_acknowledged() -> None:
    record, events = adverse(dosed_esketamine(), AdverseEventSeverity.SEVERE)
    record = leave(record, 10 + 130)
    flag = events[1]
    assert isinstance(flag, RiskFlagRaised)
    record = absorb(booked(appointment="apt-2", dose_number=2), record)
    with pytest.raises(OpenRiskFlag):
        decide_check_in(record, CheckIn("apt-2", minutes(3000)), stamp_at(minutes(3000)), RULES)

    ack = AcknowledgeRiskFlag(SESSION, flag.flag_id, "dr-1", minutes(200))
    record, acknowledged = decide_acknowledge_flag(record, ack, stamp_at(minutes(200)), RULES)
    assert acknowledged[0].flag_id == flag.flag_id
    _, checked = decide_check_in(
        record, CheckIn("apt-2", minutes(3000)), stamp_at(minutes(3000)), RULES
    )
    assert len(checked) == 1
    with pytest.raises(RiskFlagNotFound):
        decide_acknowledge_flag(record, ack, stamp_at(minutes(201)), RULES)
    other = AcknowledgeRiskFlag(SESSION, uuid4(), "dr-1", minutes(200))
    with pytest.raises(RiskFlagNotFound):
        decide_acknowledge_flag(record, other, stamp_at(minutes(201)), RULES)


def test_the_discharge_tells_coaching_about_adverse_events_and_the_form() -> None:
    record, _ = adverse(dosed_esketamine(), AdverseEventSeverity.MILD)
    record, _ = vitals(record, minutes(135))
    command = DischargePatient(SESSION, True, True, True, True, True, minutes(140))

    _, events = decide_discharge(record, command, stamp_at(minutes(140)), RULES)

    discharged = events[0]
    assert isinstance(discharged, SessionDischarged)
    assert (discharged.dose_mg, discharged.dosed_at) == (56, minutes(10))
    assert (discharged.adverse_events, discharged.serious_adverse_event) == (1, False)
    assert discharged.monitoring_form_due_by == minutes(10) + timedelta(days=7)


# Monitoring clocks


def dosed_without_recheck() -> TreatmentRecord:
    record = checked_in(record_with(booked()))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10))
    return record


def test_the_40_minute_bp_is_overdue_at_55_minutes_and_fires_once() -> None:
    record = dosed_without_recheck()
    assert clock_index(record, RULES) == {
        "clocks_pending": True,
        "clock_due_at": minutes(10 + 55),
    }

    early, none = decide_clocks(record, minutes(10 + 54), RULES)
    assert none == []
    assert early == record
    fired_record, fired = decide_clocks(record, minutes(10 + 56), RULES)
    _, again = decide_clocks(fired_record, minutes(10 + 90), RULES)

    assert [type(e) for e in fired] == [MonitoringCheckOverdue]
    overdue = fired[0]
    assert isinstance(overdue, MonitoringCheckOverdue)
    assert overdue.event_id == stable_id(SESSION, "bp_40min")
    assert overdue.occurred_at == overdue.due_at == minutes(10 + 55)
    assert again == []
    assert clock_index(fired_record, RULES)["clocks_pending"] is False


def test_two_sweeps_of_the_same_state_fire_the_identical_event() -> None:
    record = dosed_without_recheck()

    _, first = decide_clocks(record, minutes(70), RULES)
    _, second = decide_clocks(record, minutes(71), RULES)

    assert first == second


def test_a_late_recheck_resolves_the_overdue_alert() -> None:
    record, _ = decide_clocks(dosed_without_recheck(), minutes(70), RULES)
    alert = record.sessions[SESSION].alert("bp_40min")
    assert alert is not None
    assert alert.resolved_at is None

    record, _ = vitals(record, minutes(72))

    alert = record.sessions[SESSION].alert("bp_40min")
    assert alert is not None
    assert alert.resolved_at == minutes(72)


def test_a_recheck_from_30_minutes_on_stops_the_clock() -> None:
    record, _ = vitals(dosed_without_recheck(), minutes(10 + 30))

    assert clock_index(record, RULES) == {"clocks_pending": False, "clock_due_at": None}
    assert decide_clocks(record, minutes(10 + 200), RULES)[1] == []


# REMS Patient Monitoring Form


def discharged_with_form(**extra: Any) -> TreatmentRecord:
    return leave(dosed_esketamine(), 10 + 125, **extra)


def test_the_monitoring_form_is_due_7_days_after_the_dose_and_overdue_after() -> None:
    record = discharged_with_form()
    due_by = minutes(10) + timedelta(days=7)
    assert record.sessions[SESSION].monitoring_form is not None
    assert clock_index(record, RULES)["clock_due_at"] == due_by

    assert decide_clocks(record, due_by - timedelta(seconds=1), RULES)[1] == []
    record, fired = decide_clocks(record, due_by, RULES)
    _, again = decide_clocks(record, due_by + timedelta(days=1), RULES)

    assert [type(e) for e in fired] == [MonitoringFormOverdue]
    assert fired[0].event_id == stable_id(SESSION, "rems_form_overdue")
    assert again == []
    form = record.sessions[SESSION].monitoring_form
    assert form is not None
    assert form.overdue


def test_the_form_is_assembled_from_the_session() -> None:
    record = discharged_with_form(ready_to_leave_at=minutes(10 + 90), sedation_observed=False)

    form = draft(record.sessions[SESSION], RULES)

    fields = form["fields"]
    assert (fields["dose_mg"], fields["devices"], fields["lot_number"]) == (56, 2, "LOT-42")
    assert (fields["monitoring_minutes"], fields["ready_to_leave_minutes"]) == (125, 90)
    assert fields["bp_pre_dose"] == {"systolic": 128, "diastolic": 78, "minutes_since_dose": None}
    assert fields["bp_40_min"]["minutes_since_dose"] == 40
    assert fields["bp_pre_discharge"]["minutes_since_dose"] == 120
    assert form["missing"] == ["dissociation_observed"]


def test_submitting_an_incomplete_form_names_the_missing_fields() -> None:
    record = discharged_with_form()
    command = SubmitForm(SESSION, "rn-1", minutes(200))

    with pytest.raises(MonitoringFormIncomplete) as refused:
        decide_submit_form(record, command, stamp_at(minutes(200)), RULES)

    assert refused.value.reasons == (
        "ready_to_leave_at",
        "ready_to_leave_minutes",
        "sedation_observed",
        "dissociation_observed",
    )


def test_a_submitted_form_stops_the_clock_and_is_submitted_once() -> None:
    record = discharged_with_form(ready_to_leave_at=minutes(10 + 95))
    command = SubmitForm(
        SESSION, "rn-1", minutes(300), sedation_observed=True, dissociation_observed=True
    )

    record, events = decide_submit_form(record, command, stamp_at(minutes(300)), RULES)

    submitted = events[0]
    assert isinstance(submitted, MonitoringFormSubmitted)
    assert submitted.form.ready_to_leave_minutes == 95
    assert submitted.form.sedation_observed
    assert clock_index(record, RULES)["clocks_pending"] is False
    with pytest.raises(MonitoringFormAlreadySubmitted):
        decide_submit_form(record, command, stamp_at(minutes(301)), RULES)


def test_a_form_charted_before_the_discharge_it_reports_is_rejected() -> None:
    record = discharged_with_form(ready_to_leave_at=minutes(10 + 95))
    early = SubmitForm(
        SESSION, "rn-1", minutes(10 + 124), sedation_observed=True, dissociation_observed=True
    )

    with pytest.raises(ObservedAtOutOfRangeError):
        decide_submit_form(record, early, stamp_at(minutes(300)), RULES)


def test_ready_to_leave_must_lie_between_dose_and_discharge() -> None:
    with pytest.raises(ReadyToLeaveOutOfRangeError):
        discharged_with_form(ready_to_leave_at=minutes(5))


def test_iv_sessions_have_no_rems_form() -> None:
    record = checked_in(record_with(booked(protocol=Protocol.IV_KETAMINE_SERIES)))
    record, _ = vitals(record, minutes(5))
    record, _ = dose(record, minutes(10), mg=35, weight_kg=70)
    record, _ = vitals(record, minutes(50))
    record = leave(record, 10 + 100)

    with pytest.raises(MonitoringFormNotRequired):
        decide_submit_form(
            record, SubmitForm(SESSION, "rn-1", minutes(200)), stamp_at(minutes(200)), RULES
        )
