"""The facts from other services that must hold at the charted time of every treatment step.

DESIGN safety invariants 3, 4 and 6 as one table of named rules. Each rule reads the record's
safety view (`record.TreatmentRecord`, built from intake's and scheduling's events) at a time
and returns a refusal or None. The same table gates each check-in and each dose, and is run
again on doses already given whenever a late fact arrives: a dose that a fact would have
refused slipped through the window between services, and is raised rather than hidden
(`decide_unsafe_doses`).

Ordering rules within a treatment day (invariant 1) and one treatment day at a time
(invariant 2) live with the steps they order, in `domain.py` and `dosing.py`; discharge
(invariant 5) in `discharge.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.envelope import EventBase, Stamp, stable_id
from contracts.intake import RiskFlagRaised
from contracts.session import UnsafeDoseDetected
from contracts.vocabulary import ConsentKind, Decision, Protocol, RiskKind, RiskSeverity
from services.session.chart import Session
from services.session.record import Booking, RiskFlag, SessionRuleViolation, TreatmentRecord
from services.session.rules import SessionRules


class EligibilityNotApproved(SessionRuleViolation):
    """DESIGN safety invariant 3: each check-in and dose needs an approved course in force at
    its charted time; the decision intake sent by then is not an approval, or none was."""


class NoPlannedDoseLeft(SessionRuleViolation):
    """DESIGN safety invariant 3 and 6: a dose needs a planned dose left in the prescriber's
    course; only a prescriber extends the plan (scheduling's CourseExtended)."""


class TreatmentConsentMissing(SessionRuleViolation):
    """DESIGN safety invariant 3: treatment consent given and not withdrawn at the moment of
    each dose (informed consent before ketamine treatment; APA consensus statement)."""


class RemsEnrolmentMissing(SessionRuleViolation):
    """Spravato REMS: the patient is enrolled in the REMS before esketamine is given, at
    check-in and at each dose; intake records the enrolment (ConsentRecorded)."""


class SiteNotRemsCertified(SessionRuleViolation):
    """Spravato REMS: esketamine is administered only in REMS-certified healthcare settings,
    at the time of each dose (scheduling's SiteCertificationChanged)."""


class OpenRiskFlag(SessionRuleViolation):
    """DESIGN safety invariant 4: no treatment day begins and no dose is given while a high or
    urgent risk flag (screening, follow-up PHQ-9 item 9, serious adverse event) awaits a
    clinician's acknowledgement (C-SSRS and PHQ-9 item 9 need review first)."""


class AppointmentWasCancelled(SessionRuleViolation):
    """DESIGN safety invariant 3 and 6: a cancelled appointment is not treated on its old
    terms; its cancellation closes the session it opened."""


@dataclass(frozen=True)
class Treatment:
    """What a rule needs of the step it gates: the appointment, its current site, protocol and
    dose number (from the booking at check-in, from the session at the dose)."""

    appointment_id: str
    site_id: str
    protocol: Protocol | None
    dose_number: int | None

    @classmethod
    def of(cls, subject: Booking | Session) -> Treatment:
        return cls(subject.appointment_id, subject.site_id, subject.protocol, subject.dose_number)


Rule = Callable[[TreatmentRecord, Treatment, datetime], SessionRuleViolation | None]


def _when(at: datetime) -> str:
    return at.isoformat(timespec="minutes")


def approved_course(
    record: TreatmentRecord, _t: Treatment, at: datetime
) -> EligibilityNotApproved | None:
    ruling = record.ruling_at(at)
    if ruling is None:
        return EligibilityNotApproved(f"no eligibility approval in force at {_when(at)}")
    if ruling.decision is not Decision.APPROVED:
        return EligibilityNotApproved(
            f"eligibility {ruling.decision.value} at {_when(ruling.at)}, before {_when(at)}"
        )
    return None


def planned_dose_left(
    record: TreatmentRecord, t: Treatment, _at: datetime
) -> NoPlannedDoseLeft | None:
    planned, number = record.planned_doses, t.dose_number
    if planned is None or number is None or number <= planned:
        return None
    return NoPlannedDoseLeft(
        f"dose {number}; the course plans {planned} doses; a prescriber extends the course"
    )


def treatment_consent(
    record: TreatmentRecord, _t: Treatment, at: datetime
) -> TreatmentConsentMissing | None:
    given = record.consent_at(ConsentKind.TREATMENT, at)
    if given is None:
        return TreatmentConsentMissing(f"no treatment consent recorded by {_when(at)}")
    if not given:
        return TreatmentConsentMissing(f"treatment consent withdrawn before {_when(at)}")
    return None


def rems_enrolment(
    record: TreatmentRecord, t: Treatment, at: datetime
) -> RemsEnrolmentMissing | None:
    if t.protocol is not Protocol.ESKETAMINE_TRD:
        return None
    if record.consent_at(ConsentKind.REMS_ENROLMENT, at):
        return None
    return RemsEnrolmentMissing(f"no active REMS enrolment at {_when(at)}")


def site_certified(
    record: TreatmentRecord, t: Treatment, at: datetime
) -> SiteNotRemsCertified | None:
    """A site scheduling booked esketamine at was certified then; only a change heard since
    can say otherwise."""
    if t.protocol is not Protocol.ESKETAMINE_TRD:
        return None
    if record.site_certified_at(t.site_id, at) is False:
        return SiteNotRemsCertified(f"site {t.site_id} not REMS-certified at {_when(at)}")
    return None


def no_open_risk_flag(record: TreatmentRecord, _t: Treatment, at: datetime) -> OpenRiskFlag | None:
    blocking = (RiskSeverity.HIGH, RiskSeverity.URGENT)
    open_flags = [
        (flag_id, flag)
        for flag_id, flag in record.flags_open_at(at).items()
        if flag.severity in blocking
    ]
    if not open_flags:
        return None
    return OpenRiskFlag(*(_flag_fact(flag_id, flag) for flag_id, flag in open_flags))


def _flag_fact(flag_id: str, flag: RiskFlag) -> str:
    kind = flag.kind.value if flag.kind else "risk"
    raised = _when(flag.raised_at) if flag.raised_at else "?"
    return f"{kind} flag {flag_id} raised {raised}, not acknowledged"


def not_cancelled(
    record: TreatmentRecord, t: Treatment, at: datetime
) -> AppointmentWasCancelled | None:
    cancelled = record.cancelled_appointments.get(t.appointment_id)
    if cancelled is None or cancelled > at:
        return None
    return AppointmentWasCancelled(f"appointment {t.appointment_id} cancelled {_when(cancelled)}")


TREATMENT_FACTS: tuple[Rule, ...] = (
    approved_course,
    planned_dose_left,
    treatment_consent,
    rems_enrolment,
    site_certified,
    no_open_risk_flag,
    not_cancelled,
)
"""Facts owned by other services that hold at each check-in and each dose, in the order a
refusal names them."""


def refusals(
    record: TreatmentRecord, treatment: Treatment, at: datetime
) -> list[SessionRuleViolation]:
    return [r for rule in TREATMENT_FACTS if (r := rule(record, treatment, at)) is not None]


def check_treatment_facts(record: TreatmentRecord, treatment: Treatment, at: datetime) -> None:
    """Raise the first refusal: the nurse or prescriber reads which rule and which fact."""
    found = refusals(record, treatment, at)
    if found:
        raise found[0]


def heard_from_elsewhere(record: TreatmentRecord, here: str) -> TreatmentRecord:
    """The record without the flags this service raised itself: its gates saw those when
    they were charted, so they are never a late fact (a serious adverse event charted in the
    same minute as the dose follows it)."""
    flags = {k: f for k, f in record.risk_flags.items() if f.raised_by != here}
    return record.model_copy(update={"risk_flags": flags})


def unsafe_dose_flag_id(session_id: str, rule: str) -> str:
    return str(stable_id(session_id, rule, "unsafe-dose"))


def decide_unsafe_doses(
    record: TreatmentRecord, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[EventBase]]:
    """Re-run the table on every dose given: a rule now refusing a dose at its charted time
    means a fact reached this service after the dose (the race window between services).
    Each such dose is raised once per rule: UnsafeDoseDetected for the journey, and an urgent
    risk flag that the approving prescriber reviews and acknowledges before the next treatment
    day (DESIGN safety issue: raise it rather than hide it)."""
    updated: TreatmentRecord | None = None
    events: list[EventBase] = []
    heard = heard_from_elsewhere(record, stamp.producer)
    for session in record.sessions.values():
        if session.dose is None:
            continue
        at = session.dose.administered_at
        for refusal in refusals(heard, Treatment.of(session), at):
            rule = type(refusal).__name__
            if rule in session.breaches:
                continue
            updated = updated or record.model_copy(deep=True)
            updated.sessions[session.session_id].breaches.append(rule)
            flag_id = unsafe_dose_flag_id(session.session_id, rule)
            updated.risk_flags[flag_id] = RiskFlag(
                kind=RiskKind.UNSAFE_DOSE,
                severity=RiskSeverity.URGENT,
                raised_at=stamp.now,
                raised_by=stamp.producer,
            )
            events += [
                UnsafeDoseDetected(
                    **stamp.envelope(record.patient_id, session.site_id),
                    session_id=session.session_id,
                    dosed_at=at,
                    rule=rule,
                    facts=[str(reason)[:200] for reason in refusal.reasons][:10] or [rule],
                    prescriber_id=record.prescriber_id,
                ),
                RiskFlagRaised(
                    **stamp.envelope(record.patient_id, session.site_id),
                    flag_id=flag_id,
                    kind=RiskKind.UNSAFE_DOSE,
                    severity=RiskSeverity.URGENT,
                    acknowledge_by=stamp.now + timedelta(hours=rules.serious_ae_acknowledge_hours),
                ),
            ]
    return (updated or record), events
