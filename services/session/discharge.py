"""Discharge rules: when a patient may leave after the dose (DESIGN safety invariant 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.envelope import Stamp
from contracts.session import MonitoringFormDue, SessionDischarged
from contracts.vocabulary import Protocol
from services.session.chart import (
    Discharge,
    FieldOutOfRangeError,
    FormStatus,
    Session,
    check_observed_at,
    envelope,
    high_post_dose_reading,
    whole_minutes,
)
from services.session.record import (
    SessionRuleViolation,
    TreatmentRecord,
    open_session,
    with_session,
)
from services.session.rules import SessionRules


class ReadyToLeaveOutOfRangeError(FieldOutOfRangeError):
    """ready_to_leave_at lies before the dose or after the discharge (422)."""

    field = "ready_to_leave_at"


class DischargeBeforeDose(SessionRuleViolation):
    """Discharge closes a dosed session; this session has no dose."""


class DischargeConditionsUnmet(SessionRuleViolation):
    """Discharge needs monitoring time served, effects resolved, acceptable vitals, a post-dose
    BP and confirmed transport (Spravato label and REMS; IV protocol; DESIGN: treatment day)."""


@dataclass(frozen=True)
class DischargePatient:
    session_id: str
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
    observed_at: datetime
    ready_to_leave_at: datetime | None = None
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None


def required_monitoring_minutes(protocol: Protocol, rules: SessionRules) -> int:
    """Esketamine: at least 120 min after the dose (Spravato boxed warning and REMS). IV: the
    infusion (40 min) plus monitoring after its end (default 60 min; DESIGN). Others: the
    configured conservative default."""
    if protocol is Protocol.ESKETAMINE_TRD:
        return rules.esketamine_monitoring_min
    if protocol is Protocol.IV_KETAMINE_SERIES:
        return rules.iv_infusion_min + rules.iv_monitoring_after_infusion_min
    return rules.other_monitoring_min


def unmet_discharge_conditions(
    session: Session, command: DischargePatient, monitored: int, rules: SessionRules
) -> list[str]:
    """Every unmet condition, by name, so the nurse sees all of them at once (DESIGN safety
    invariant 5). Sedation, dissociation and respiratory effects must have resolved whatever
    the protocol (Spravato label; APA consensus on IV ketamine); the ~40-minute recheck and a
    reading shortly before discharge are charted (Spravato: recheck BP ~40 min after dosing
    and subsequently as clinically warranted); "vitals acceptable" agrees with the last
    reading: above the pre-dose limit it needs a prescriber's acceptance with a reason; no
    driving until the next day, so transport is confirmed (DESIGN)."""
    assert session.dose is not None
    required = required_monitoring_minutes(session.protocol, rules)
    at = command.observed_at
    recheck = rules.bp_recheck_min - rules.bp_recheck_early_min
    post_dose = [r for r in session.vitals if not r.pre_dose]
    recent = [
        r for r in post_dose if whole_minutes(r.observed_at, at) <= rules.discharge_bp_max_age_min
    ]
    conditions = [
        (monitored >= required, f"monitoring_time: {monitored} of {required} min"),
        (command.sedation_resolved, "sedation_resolved"),
        (command.dissociation_resolved, "dissociation_resolved"),
        (command.respiratory_ok, "respiratory_ok"),
        (command.vitals_acceptable, "vitals_acceptable"),
        (
            any((r.minutes_since_dose or 0) >= recheck for r in post_dose),
            f"bp_40_min: no blood pressure charted from {recheck} min after the dose",
        ),
        (
            bool(recent),
            f"bp_before_discharge: no blood pressure in the {rules.discharge_bp_max_age_min} "
            "min before discharge",
        ),
        _last_reading_acceptable(session, rules),
        (command.transport_confirmed, "transport_confirmed"),
    ]
    return [name for met, name in conditions if not met]


def _last_reading_acceptable(session: Session, rules: SessionRules) -> tuple[bool, str]:
    """The last post-dose reading is within the pre-dose limit, or a prescriber accepted it."""
    last = high_post_dose_reading(session, rules)
    if last is None:
        return True, ""
    accepted = session.discharge_bp_accepted
    covered = accepted is not None and accepted.observed_at >= last.observed_at
    return covered, (
        f"vitals_acceptable: last BP {last.systolic}/{last.diastolic} above "
        f"{rules.bp_systolic_max}/{rules.bp_diastolic_max} needs a prescriber's acceptance"
    )


def check_ready_to_leave(at: datetime | None, dosed_at: datetime, discharged_at: datetime) -> None:
    """REMS form: the time the patient would have been ready to leave without the 2-hour rule
    lies between the dose and the discharge."""
    if at is not None and not dosed_at <= at <= discharged_at:
        raise ReadyToLeaveOutOfRangeError("ready_to_leave_at must lie between dose and discharge")


def decide_discharge(
    record: TreatmentRecord, command: DischargePatient, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[SessionDischarged | MonitoringFormDue]]:
    """Discharge when every condition is met; esketamine discharges open the REMS Patient
    Monitoring Form, due within 7 days of the dose (Spravato REMS). The discharge tells
    coaching and the journey what the day was: dose, adverse events, the form's deadline."""
    session = open_session(record, command.session_id)
    if session.dose is None:
        raise DischargeBeforeDose(f"no dose charted in session {session.session_id}")
    check_observed_at(command.observed_at, stamp.now, rules, not_before=session.last_observed_at)
    dosed_at = session.dose.administered_at
    check_ready_to_leave(command.ready_to_leave_at, dosed_at, command.observed_at)
    monitored = whole_minutes(dosed_at, command.observed_at)
    unmet = unmet_discharge_conditions(session, command, monitored, rules)
    if unmet:
        raise DischargeConditionsUnmet(*unmet)
    discharged = session.model_copy(deep=True)
    discharged.discharge = Discharge(
        discharged_at=command.observed_at,
        monitoring_minutes=monitored,
        sedation_resolved=command.sedation_resolved,
        dissociation_resolved=command.dissociation_resolved,
        respiratory_ok=command.respiratory_ok,
        vitals_acceptable=command.vitals_acceptable,
        transport_confirmed=command.transport_confirmed,
        ready_to_leave_at=command.ready_to_leave_at,
        sedation_observed=command.sedation_observed,
        dissociation_observed=command.dissociation_observed,
    )
    form_due = dosed_at + timedelta(days=rules.monitoring_form_days)
    needs_form = session.protocol in rules.monitoring_form_protocols
    if needs_form:
        discharged.monitoring_form = FormStatus(due_by=form_due)
    head = (stamp, command.observed_at, record.patient_id, session.site_id)
    events: list[SessionDischarged | MonitoringFormDue] = [
        SessionDischarged(
            **envelope(*head),
            session_id=session.session_id,
            appointment_id=session.appointment_id,
            protocol=session.protocol,
            dose_number=session.dose_number,
            course_phase=session.course_phase,
            monitoring_minutes=monitored,
            dose_mg=session.dose.dose_mg,
            dosed_at=dosed_at,
            adverse_events=len(session.adverse_events),
            serious_adverse_event=any(ae.serious for ae in session.adverse_events),
            monitoring_form_due_by=form_due if needs_form else None,
        )
    ]
    if needs_form:
        events.append(
            MonitoringFormDue(**envelope(*head), session_id=session.session_id, due_by=form_due)
        )
    return with_session(record, discharged), events
