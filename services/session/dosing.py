"""Dose and discharge rules: which doses a protocol allows, and when a patient may leave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.envelope import Stamp
from contracts.session import DoseAdministered, MonitoringFormDue, SessionDischarged
from contracts.vocabulary import Protocol
from services.session.domain import check_observed_at, envelope, whole_minutes
from services.session.record import (
    Discharge,
    Dose,
    Session,
    SessionRuleViolation,
    TreatmentRecord,
    open_session,
    with_session,
)
from services.session.rules import SessionRules


class PreDoseVitalsMissing(SessionRuleViolation):
    """Spravato prescribing information: assess blood pressure before dosing; no dose without
    pre-dose vitals (DESIGN: treatment day)."""


class DoseHeldForBloodPressure(SessionRuleViolation):
    """The last pre-dose BP was above threshold (DESIGN: above 140/90 => DoseHeld); a recheck
    at or below threshold releases the hold."""


class AlreadyDosed(SessionRuleViolation):
    """One dose per treatment-day session."""


class DoseNotAllowedForProtocol(SessionRuleViolation):
    """The dose does not match what the session's protocol allows."""


class EsketamineDoseNotAllowed(DoseNotAllowedForProtocol):
    """Spravato label: 56 mg or 84 mg (28 mg devices), and the first induction dose is 56 mg."""


class IvWeightRequired(DoseNotAllowedForProtocol):
    """IV ketamine is dosed by weight (0.5 mg/kg over 40 min): the weight must be charted."""


class IvDoseNotWeightBased(DoseNotAllowedForProtocol):
    """Published IV-ketamine protocol: 0.5 mg/kg over 40 min, within the configured tolerance."""


class DischargeBeforeDose(SessionRuleViolation):
    """Discharge closes a dosed session; this session has no dose."""


class DischargeConditionsUnmet(SessionRuleViolation):
    """Discharge needs monitoring time served, effects resolved, acceptable vitals, a post-dose
    BP and confirmed transport (Spravato label and REMS; IV protocol; DESIGN: treatment day)."""


@dataclass(frozen=True)
class AdministerDose:
    session_id: str
    dose_mg: float
    lot_number: str
    weight_kg: float | None
    administered_by: str
    observed_at: datetime


@dataclass(frozen=True)
class DischargePatient:
    session_id: str
    sedation_resolved: bool
    dissociation_resolved: bool
    respiratory_ok: bool
    vitals_acceptable: bool
    transport_confirmed: bool
    observed_at: datetime


def check_dose_allowed(
    protocol: Protocol,
    dose_number: int,
    dose_mg: float,
    weight_kg: float | None,
    rules: SessionRules,
) -> None:
    """Esketamine: 56 or 84 mg, first dose 56 mg (Spravato label: induction starts at 56 mg;
    28 mg devices). IV: 0.5 mg/kg +/- tolerance (published IV-ketamine protocol). Other
    modalities are dosed by the prescriber's order; the contract bounds them."""
    if protocol is Protocol.ESKETAMINE_TRD:
        first = dose_number == 1
        allowed = [rules.esketamine_first_dose_mg] if first else rules.esketamine_doses_mg
        if dose_mg not in allowed:
            shown = " or ".join(f"{mg:g}" for mg in allowed)
            raise EsketamineDoseNotAllowed(f"{dose_mg:g} mg; dose {dose_number} allows {shown} mg")
    elif protocol is Protocol.IV_KETAMINE_SERIES:
        if weight_kg is None:
            raise IvWeightRequired("weight_kg")
        expected = rules.iv_mg_per_kg * weight_kg
        if abs(dose_mg - expected) > expected * rules.iv_dose_tolerance:
            raise IvDoseNotWeightBased(
                f"{dose_mg:g} mg; {rules.iv_mg_per_kg:g} mg/kg x {weight_kg:g} kg = "
                f"{expected:.1f} mg +/- {rules.iv_dose_tolerance:.0%}"
            )


def decide_dose(
    record: TreatmentRecord, command: AdministerDose, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[DoseAdministered]]:
    """A dose needs pre-dose vitals, no BP hold, no earlier dose and a protocol-allowed amount."""
    session = open_session(record, command.session_id)
    if session.dose is not None:
        raise AlreadyDosed(session.session_id)
    check_observed_at(command.observed_at, stamp.now, rules, not_before=session.last_observed_at)
    if not session.vitals:
        raise PreDoseVitalsMissing(session.session_id)
    if session.dose_held:
        last = session.vitals[-1]
        raise DoseHeldForBloodPressure(
            f"last pre-dose BP {last.systolic}/{last.diastolic} above "
            f"{rules.bp_systolic_max}/{rules.bp_diastolic_max}"
        )
    check_dose_allowed(
        session.protocol, session.dose_number, command.dose_mg, command.weight_kg, rules
    )
    dosed = session.model_copy(deep=True)
    dosed.dose = Dose(
        administered_at=command.observed_at,
        dose_mg=command.dose_mg,
        lot_number=command.lot_number,
        weight_kg=command.weight_kg,
        administered_by=command.administered_by,
    )
    event = DoseAdministered(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        appointment_id=session.appointment_id,
        protocol=session.protocol,
        dose_mg=command.dose_mg,
        dose_number=session.dose_number,
        lot_number=command.lot_number,
        administered_by=command.administered_by,
    )
    return with_session(record, dosed), [event]


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
    """Every unmet condition, by name, so the nurse sees all of them at once. Sedation,
    dissociation and respiratory effects must have resolved whatever the protocol (Spravato
    label; APA consensus on IV ketamine); no driving until the next day, so transport is
    confirmed (DESIGN); a post-dose BP is on the chart (Spravato: recheck after dosing)."""
    required = required_monitoring_minutes(session.protocol, rules)
    conditions = [
        (monitored >= required, f"monitoring_time: {monitored} of {required} min"),
        (command.sedation_resolved, "sedation_resolved"),
        (command.dissociation_resolved, "dissociation_resolved"),
        (command.respiratory_ok, "respiratory_ok"),
        (command.vitals_acceptable, "vitals_acceptable"),
        (any(not r.pre_dose for r in session.vitals), "post_dose_blood_pressure"),
        (command.transport_confirmed, "transport_confirmed"),
    ]
    return [name for met, name in conditions if not met]


def decide_discharge(
    record: TreatmentRecord, command: DischargePatient, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[SessionDischarged | MonitoringFormDue]]:
    """Discharge when every condition is met; esketamine discharges open the REMS Patient
    Monitoring Form, due within 7 days of the dose (Spravato REMS)."""
    session = open_session(record, command.session_id)
    if session.dose is None:
        raise DischargeBeforeDose(session.session_id)
    check_observed_at(command.observed_at, stamp.now, rules, not_before=session.last_observed_at)
    dosed_at = session.dose.administered_at
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
    )
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
        )
    ]
    if session.protocol in rules.monitoring_form_protocols:
        events.append(
            MonitoringFormDue(
                **envelope(*head),
                session_id=session.session_id,
                due_by=dosed_at + timedelta(days=rules.monitoring_form_days),
            )
        )
    return with_session(record, discharged), events
