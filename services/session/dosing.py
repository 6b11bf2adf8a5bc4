"""Dose rules: which doses a protocol allows, and what must hold at the moment of each dose.

Discharge rules live in `discharge.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.envelope import Stamp
from contracts.session import DoseAdministered
from contracts.vocabulary import Protocol
from services.session.chart import Dose, Session, check_observed_at, envelope, whole_minutes
from services.session.gates import InteractionsNotAcknowledged
from services.session.invariants import Treatment, check_treatment_facts
from services.session.record import (
    SessionRuleViolation,
    TreatmentRecord,
    open_session,
    with_session,
)
from services.session.rules import SessionRules


class PreDoseVitalsMissing(SessionRuleViolation):
    """Spravato prescribing information: assess blood pressure before dosing; no dose without
    pre-dose vitals (DESIGN: treatment day)."""


class PreDoseVitalsStale(SessionRuleViolation):
    """DESIGN safety invariant 3: a pre-dose blood pressure within the last 60 min (configurable)
    before the dose (Spravato prescribing information: assess BP before dosing)."""


class DoseOutOfOrder(SessionRuleViolation):
    """DESIGN safety invariant 2: one dose per dose number, and dose n+1 only after dose n."""


class DoseHeldForBloodPressure(SessionRuleViolation):
    """The last pre-dose BP was above threshold (DESIGN: above 140/90 => DoseHeld); a recheck
    at or below threshold releases the hold."""


class AlreadyDosed(SessionRuleViolation):
    """One dose per treatment-day session."""


class DoseBeforeMinimumGap(SessionRuleViolation):
    """DESIGN safety invariant 2: consecutive doses at least the protocol's minimum gap apart,
    the same min_gap_days scheduling books with (Spravato PI: twice weekly in induction;
    published IV protocol: infusions >= 48 h apart), counted in the site's calendar days."""


class DoseNotAllowedForProtocol(SessionRuleViolation):
    """The dose does not match what the session's protocol allows."""


class EsketamineDoseNotAllowed(DoseNotAllowedForProtocol):
    """Spravato label: 56 mg or 84 mg (28 mg devices), and the first induction dose is 56 mg."""


class DoseAmountRequired(DoseNotAllowedForProtocol):
    """Only IV ketamine computes its dose from the weight; other protocols chart the mg given."""


class IvWeightRequired(DoseNotAllowedForProtocol):
    """IV ketamine is dosed by weight (0.5 mg/kg over 40 min): the weight must be charted."""


class IvDoseNotWeightBased(DoseNotAllowedForProtocol):
    """Published IV-ketamine protocol: 0.5 mg/kg over 40 min, within the configured tolerance."""


@dataclass(frozen=True)
class AdministerDose:
    session_id: str
    dose_mg: float | None
    lot_number: str
    weight_kg: float | None
    administered_by: str
    observed_at: datetime
    devices: int | None = None


@dataclass(frozen=True)
class DoseAmount:
    """What the protocol allows for this dose: mg, esketamine devices or IV infusion time."""

    dose_mg: float
    devices: int | None = None
    infusion_minutes: int | None = None


def check_dose_allowed(
    protocol: Protocol,
    dose_number: int,
    dose_mg: float | None,
    weight_kg: float | None,
    rules: SessionRules,
    devices: int | None = None,
) -> DoseAmount:
    """Esketamine: 56 or 84 mg, first dose 56 mg, given as 28 mg devices five minutes apart
    (Spravato label), so the device count follows from the dose. IV: 0.5 mg/kg over 40 min
    +/- tolerance, computed from the weight when no mg is charted (published IV-ketamine
    protocol). Other modalities are dosed by the prescriber's order; the contract bounds them."""
    if protocol is Protocol.IV_KETAMINE_SERIES:
        if weight_kg is None:
            raise IvWeightRequired("weight_kg")
        expected = round(rules.iv_mg_per_kg * weight_kg, 1)
        given = expected if dose_mg is None else dose_mg
        if abs(given - expected) > expected * rules.iv_dose_tolerance:
            raise IvDoseNotWeightBased(
                f"{given:g} mg; {rules.iv_mg_per_kg:g} mg/kg x {weight_kg:g} kg = "
                f"{expected:.1f} mg +/- {rules.iv_dose_tolerance:.0%}"
            )
        return DoseAmount(given, infusion_minutes=rules.iv_infusion_min)
    if dose_mg is None:
        raise DoseAmountRequired("dose_mg")
    if protocol is not Protocol.ESKETAMINE_TRD:
        return DoseAmount(dose_mg)
    first = dose_number == 1
    allowed = [rules.esketamine_first_dose_mg] if first else rules.esketamine_doses_mg
    if dose_mg not in allowed:
        shown = " or ".join(f"{mg:g}" for mg in allowed)
        raise EsketamineDoseNotAllowed(f"{dose_mg:g} mg; dose {dose_number} allows {shown} mg")
    needed = round(dose_mg / rules.esketamine_device_mg)
    if devices is not None and devices != needed:
        raise EsketamineDoseNotAllowed(
            f"{dose_mg:g} mg is {needed} devices of {rules.esketamine_device_mg:g} mg, "
            f"not {devices}"
        )
    return DoseAmount(dose_mg, devices=needed)


def days_apart(earlier: datetime, later: datetime, site_id: str, rules: SessionRules) -> int:
    """Calendar days between two doses in the site's time zone, as scheduling counts them;
    whole 24-hour days when the site's zone is not configured (the stricter count)."""
    zone_name = rules.site_time_zones.get(site_id)
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        return (later - earlier) // timedelta(days=1)
    return (later.astimezone(zone).date() - earlier.astimezone(zone).date()).days


def _elapsed(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 24 * 60 else f"{minutes // 60} h"


def check_dose_gap(
    record: TreatmentRecord, session: Session, at: datetime, rules: SessionRules
) -> None:
    """No other dose of the patient, before or after this one, closer than the minimum gap."""
    gap = rules.min_gap_days(session.protocol)
    for other in record.sessions.values():
        if other.dose is None or other.session_id == session.session_id:
            continue
        given = other.dose.administered_at
        earlier, later = sorted((given, at))
        if days_apart(earlier, later, session.site_id, rules) >= gap:
            continue
        if given <= at:
            fact = f"previous dose {_elapsed(at - given)} ago"
        else:
            fact = f"dose of session {other.session_id} {_elapsed(given - at)} later"
        raise DoseBeforeMinimumGap(f"{fact}; minimum gap {gap} days")


def check_dose_order(record: TreatmentRecord, session: Session, at: datetime) -> None:
    """Doses are charted in the order of their numbers: no number twice, none before a lower
    number's dose or after a higher one's."""
    number = session.dose_number
    for other in record.sessions.values():
        if other.dose is None or other.session_id == session.session_id:
            continue
        given, theirs = other.dose.administered_at, other.dose_number
        if theirs == number:
            raise DoseOutOfOrder(f"dose {number} was already given at {given.isoformat()}")
        if (theirs < number and given > at) or (theirs > number and given < at):
            raise DoseOutOfOrder(
                f"dose {number} at {at.isoformat()}; dose {theirs} at {given.isoformat()}"
            )


def check_pre_dose_vitals(session: Session, at: datetime, rules: SessionRules) -> None:
    """A recent pre-dose reading, not holding the dose (or its hold overridden)."""
    if not session.vitals:
        checked_in = session.checked_in_at.isoformat(timespec="minutes")
        raise PreDoseVitalsMissing(f"no blood pressure charted since check-in at {checked_in}")
    last = session.vitals[-1]
    age = whole_minutes(last.observed_at, at)
    if age > rules.pre_dose_bp_max_age_min:
        raise PreDoseVitalsStale(
            f"last pre-dose BP {age} min before the dose; at most {rules.pre_dose_bp_max_age_min}"
        )
    if session.dose_held:
        raise DoseHeldForBloodPressure(
            f"last pre-dose BP {last.systolic}/{last.diastolic} above "
            f"{rules.bp_systolic_max}/{rules.bp_diastolic_max}"
        )


def decide_dose(
    record: TreatmentRecord, command: AdministerDose, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[DoseAdministered]]:
    """A dose needs, at its own moment (DESIGN safety invariants 1-3): the facts of
    `invariants.TREATMENT_FACTS` at its charted time (approved course with a planned dose left,
    treatment consent, for esketamine REMS enrolment and a certified site, no open risk flag,
    appointment not cancelled); a pre-dose BP within the last hour that does not hold the dose
    (or a prescriber's override), acknowledged interaction flags, no earlier dose in this
    session, doses in number order, none within the protocol's minimum gap, and a
    protocol-allowed amount."""
    session = open_session(record, command.session_id)
    if session.dose is not None:
        given = session.dose.administered_at.isoformat(timespec="minutes")
        raise AlreadyDosed(f"{session.dose.dose_mg:g} mg already given in this session at {given}")
    at = command.observed_at
    check_observed_at(at, stamp.now, rules, not_before=session.last_observed_at)
    check_treatment_facts(record, Treatment.of(session), at)
    check_dose_order(record, session, at)
    check_dose_gap(record, session, at, rules)
    check_pre_dose_vitals(session, at, rules)
    if session.unacknowledged_interactions:
        raise InteractionsNotAcknowledged(
            *(flag.interaction.value for flag in session.unacknowledged_interactions)
        )
    amount = check_dose_allowed(
        session.protocol,
        session.dose_number,
        command.dose_mg,
        command.weight_kg,
        rules,
        command.devices,
    )
    dosed = session.model_copy(deep=True)
    dosed.dose = Dose(
        administered_at=command.observed_at,
        dose_mg=amount.dose_mg,
        lot_number=command.lot_number,
        weight_kg=command.weight_kg,
        administered_by=command.administered_by,
        devices=amount.devices,
        infusion_minutes=amount.infusion_minutes,
    )
    event = DoseAdministered(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        appointment_id=session.appointment_id,
        protocol=session.protocol,
        dose_mg=amount.dose_mg,
        dose_number=session.dose_number,
        lot_number=command.lot_number,
        administered_by=command.administered_by,
        devices=amount.devices,
        weight_kg=command.weight_kg,
        infusion_minutes=amount.infusion_minutes,
    )
    return with_session(record, dosed), [event]
