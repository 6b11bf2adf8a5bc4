"""Pre-dose gates a clinician clears: interaction acknowledgement and the prescriber's override
of a blood-pressure hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Stamp
from contracts.session import (
    DischargeBloodPressureAccepted,
    DoseHoldOverridden,
    InteractionsAcknowledged,
)
from services.session.chart import (
    Acknowledgement,
    Hold,
    check_observed_at,
    envelope,
    high_post_dose_reading,
)
from services.session.record import (
    SessionRuleViolation,
    TreatmentRecord,
    open_session,
    with_session,
)
from services.session.rules import SessionRules


class InteractionsNotAcknowledged(SessionRuleViolation):
    """Interaction flags from intake (e.g. levothyroxine: marked BP and heart-rate rise) are
    shown at check-in and must be acknowledged before dosing (DESIGN: interactions)."""


class NoDoseHold(SessionRuleViolation):
    """Only an open blood-pressure hold can be overridden."""


class DoseAlreadyGiven(SessionRuleViolation):
    """Pre-dose gates are cleared before the dose, not after it."""


@dataclass(frozen=True)
class AcknowledgeInteractions:
    session_id: str
    acknowledged_by: str
    observed_at: datetime


@dataclass(frozen=True)
class OverrideDoseHold:
    session_id: str
    prescriber_id: str
    reason: str
    observed_at: datetime


def decide_acknowledge_interactions(
    record: TreatmentRecord, command: AcknowledgeInteractions, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[InteractionsAcknowledged]]:
    """The clinician confirms they saw every flag shown (DESIGN: interactions are flagged at
    intake and carried to treatment day). Acknowledging again, with nothing new, is a no-op.
    The acknowledgement follows the check-in that showed the flags (DESIGN safety invariant 1)."""
    session = open_session(record, command.session_id).model_copy(deep=True)
    pending = session.unacknowledged_interactions
    if not pending:
        return record, []
    check_observed_at(command.observed_at, stamp.now, rules, not_before=session.checked_in_at)
    session.interactions_acknowledged = Acknowledgement(
        acknowledged_by=command.acknowledged_by,
        acknowledged_at=command.observed_at,
        interactions=[flag.interaction for flag in session.interactions],
    )
    event = InteractionsAcknowledged(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        interactions=[flag.interaction for flag in pending],
        acknowledged_by=command.acknowledged_by,
    )
    return with_session(record, session), [event]


def decide_override_hold(
    record: TreatmentRecord, command: OverrideDoseHold, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[DoseHoldOverridden]]:
    """DESIGN (treatment day): above 140/90 the dose is held; a recheck may release it, or a
    prescriber may override the hold with a reason, which is recorded with the hold. A later
    pre-dose reading above threshold holds the dose again. The override follows the reading
    that caused it (DESIGN safety invariant 1)."""
    session = open_session(record, command.session_id).model_copy(deep=True)
    if session.dose is not None:
        raise DoseAlreadyGiven(session.session_id)
    open_holds = [hold for hold in session.holds if hold.released_at is None]
    if not open_holds:
        raise NoDoseHold(session.session_id)
    check_observed_at(command.observed_at, stamp.now, rules, not_before=open_holds[-1].observed_at)
    for hold in open_holds:
        hold.released_at = command.observed_at
        hold.overridden_by = command.prescriber_id
        hold.override_reason = command.reason
    last = open_holds[-1]
    event = DoseHoldOverridden(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        overridden_by=command.prescriber_id,
        reason=command.reason,
        systolic=last.systolic,
        diastolic=last.diastolic,
    )
    return with_session(record, session), [event]


class NoReadingToAccept(SessionRuleViolation):
    """Only a post-dose reading above the pre-dose limit needs a prescriber's acceptance before
    discharge (DESIGN safety invariant 5)."""


@dataclass(frozen=True)
class AcceptDischargeBloodPressure:
    session_id: str
    prescriber_id: str
    reason: str
    observed_at: datetime


def decide_accept_discharge_bp(
    record: TreatmentRecord,
    command: AcceptDischargeBloodPressure,
    stamp: Stamp,
    rules: SessionRules,
) -> tuple[TreatmentRecord, list[DischargeBloodPressureAccepted]]:
    """DESIGN safety invariant 5: after the dose, a reading above the pre-dose limit lets the
    patient go only when a prescriber accepts it with a reason (Spravato label: monitor BP until
    it returns to acceptable levels; a prescriber judges when that is). The acceptance covers
    the last reading and follows it (invariant 1); a later reading above the limit needs a new
    acceptance."""
    session = open_session(record, command.session_id).model_copy(deep=True)
    last = high_post_dose_reading(session, rules)
    if last is None:
        raise NoReadingToAccept(session.session_id)
    check_observed_at(command.observed_at, stamp.now, rules, not_before=last.observed_at)
    session.discharge_bp_accepted = Hold(
        observed_at=last.observed_at,
        systolic=last.systolic,
        diastolic=last.diastolic,
        released_at=command.observed_at,
        overridden_by=command.prescriber_id,
        override_reason=command.reason,
    )
    event = DischargeBloodPressureAccepted(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        accepted_by=command.prescriber_id,
        reason=command.reason,
        systolic=last.systolic,
        diastolic=last.diastolic,
    )
    return with_session(record, session), [event]
