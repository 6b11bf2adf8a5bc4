"""Intake rules: decide_* functions take state, a command and a Stamp, and return events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from contracts import EventBase
from contracts.envelope import Stamp
from contracts.intake import (
    ConsentRecorded,
    Contraindication,
    ContraindicationFound,
    CoverageAssessed,
    MedicationInteractionFlagged,
    MedicationsUpdated,
    PatientReferred,
    RiskFlagRaised,
    ScreeningScored,
)
from contracts.vocabulary import ConsentKind, CssrsRisk, RiskKind, RiskSeverity
from services.intake.coverage import Coverage, PayerRule, adequate_failed_trials, assess
from services.intake.record import (
    ChartedBeforeReferral,
    ChartedInTheFuture,
    ChartedTimeOutOfRange,
    ConsentEntry,
    Decided,
    Finding,
    Flag,
    IntakeRecord,
    InteractionFlag,
    Referral,
    ReferralReceivedInTheFuture,
)
from services.intake.rules import INTERACTION_RULES, SAFETY_RULES, IntakeRules, SafetyFacts
from services.intake.scoring import cssrs_risk, gad7_band, phq9_band

__all__ = [
    "ChartedBeforeReferral",
    "ChartedInTheFuture",
    "ChartedTimeOutOfRange",
    "ConsentEntry",
    "Decided",
    "Finding",
    "Flag",
    "IntakeRecord",
    "InteractionFlag",
    "Referral",
    "ReferralReceivedInTheFuture",
]
"""The record's types live in `record.py`; they are re-exported for the rules' callers."""


def risk_flag(
    item9: int, risk: CssrsRisk, rules: IntakeRules
) -> tuple[RiskKind, RiskSeverity, float] | None:
    """PHQ-9 item 9 > 0 raises a flag for clinician review within 24 h; C-SSRS high risk
    (Q4/Q5 past month, behaviour past 3 months) needs immediate review, 1 h (PHQ-9 guide;
    C-SSRS screener triage; DESIGN: screening)."""
    if risk is CssrsRisk.HIGH:
        return RiskKind.CSSRS_HIGH, RiskSeverity.URGENT, rules.urgent_flag_ack_hours
    if item9 > 0:
        return RiskKind.PHQ9_ITEM9, RiskSeverity.HIGH, rules.high_flag_ack_hours
    return None


def interactions_of(medications: Sequence[str]) -> list[tuple[str, str, str]]:
    """(interaction, medication, monitoring) for each medication in the interaction table."""
    names = [m.strip().lower() for m in medications]
    return [
        (rule.interaction.value, name, rule.monitoring)
        for rule in INTERACTION_RULES
        for name in names
        if name in rule.medications
    ]


def contraindications_of(facts: SafetyFacts, rules: IntakeRules) -> dict[Contraindication, Finding]:
    """Every row of the safety rule table that matches the facts."""
    return {
        rule.contraindication: Finding(blocking=rule.blocking(rules), source=rule.source)
        for rule in SAFETY_RULES
        if rule.matches(facts, rules)
    }


def _new_interactions(
    record: IntakeRecord, medications: Sequence[str], stamp: Stamp
) -> list[EventBase]:
    """Flag each (interaction, medication) pair once per patient, however often re-run."""
    events: list[EventBase] = []
    for interaction, medication, monitoring in interactions_of(medications):
        flagged = InteractionFlag(interaction=interaction, medication=medication)
        if flagged in record.interaction_flags:
            continue
        record.interaction_flags.append(flagged)
        if interaction not in record.interactions:
            record.interactions.append(interaction)
        events.append(
            MedicationInteractionFlagged(
                **stamp.envelope(record.patient_id, record.site_id),
                interaction=interaction,
                medication=medication,
                monitoring=monitoring,
            )
        )
    return events


def _new_contraindications(
    record: IntakeRecord, rules: IntakeRules, stamp: Stamp
) -> list[EventBase]:
    events: list[EventBase] = []
    for kind, finding in contraindications_of(record.facts, rules).items():
        if kind in record.contraindications:
            continue
        record.contraindications[kind] = finding
        events.append(
            ContraindicationFound(
                **stamp.envelope(record.patient_id, record.site_id),
                contraindication=kind,
                blocking=finding.blocking,
                rule_source=finding.source,
            )
        )
    return events


def _coverage_assessed(record: IntakeRecord, coverage: Coverage, stamp: Stamp) -> EventBase:
    return CoverageAssessed(
        **stamp.envelope(record.patient_id, record.site_id),
        payer=coverage.payer,
        adequate_failed_trials=coverage.adequate_failed_trials,
        treatment_resistant=coverage.treatment_resistant,
        esketamine_pathway=coverage.esketamine,
        iv_ketamine_pathway=coverage.iv_ketamine,
        reasons=list(coverage.reasons),
    )


def decide_referral(
    patient_id: str,
    referral: Referral,
    stamp: Stamp,
    rules: IntakeRules,
    payer: PayerRule,
    new_flag_id: UUID,
) -> Decided:
    """Score the screeners; raise risk, contraindication and interaction flags; assess
    coverage under the patient's payer rule."""
    phq9_total, gad7_total = sum(referral.phq9), sum(referral.gad7)
    item9, risk = referral.phq9[8], cssrs_risk(referral.cssrs)
    trials = adequate_failed_trials(
        referral.trials, rules.trd_min_trial_weeks, rules.trd_inadequate_outcomes
    )
    coverage = assess(
        referral.payer, payer, referral.trials, phq9_total, rules.trd_inadequate_outcomes
    )
    record = IntakeRecord(
        patient_id=patient_id,
        site_id=referral.site_id,
        identity=referral.identity,
        referral_source=referral.referral_source,
        payer=referral.payer,
        phq9_total=phq9_total,
        phq9_item9=item9,
        gad7_total=gad7_total,
        cssrs_risk=risk,
        adequate_failed_trials=trials,
        trials=list(referral.trials),
        medications=[m.strip().lower() for m in referral.medications],
        facts=referral.facts,
        coverage=coverage,
    )
    received_at = referral.received_at or stamp.now
    if received_at > stamp.now + timedelta(minutes=rules.clock_skew_minutes):
        raise ReferralReceivedInTheFuture(
            f"received_at {received_at.isoformat()} is after now {stamp.now.isoformat()}"
        )
    record.received_at = received_at
    events: list[EventBase] = [
        PatientReferred(
            **replace(stamp, now=received_at).envelope(patient_id, referral.site_id),
            referral_source=referral.referral_source,
            identity=referral.identity,
        ),
        ScreeningScored(
            **stamp.envelope(patient_id, referral.site_id),
            phq9_total=phq9_total,
            phq9_band=phq9_band(phq9_total),
            phq9_item9=item9,
            gad7_total=gad7_total,
            gad7_band=gad7_band(gad7_total),
            cssrs_risk=risk,
            adequate_failed_trials=trials,
        ),
    ]
    flag = risk_flag(item9, risk, rules)
    if flag is not None:
        kind, severity, hours = flag
        raised = RiskFlagRaised(
            **stamp.envelope(patient_id, referral.site_id),
            flag_id=new_flag_id,
            kind=kind,
            severity=severity,
            acknowledge_by=stamp.now + timedelta(hours=hours),
        )
        events.append(raised)
        record.flags[str(new_flag_id)] = flag_from(raised)
    events += _new_contraindications(record, rules, stamp)
    events += _new_interactions(record, referral.medications, stamp)
    events.append(_coverage_assessed(record, coverage, stamp))
    return record, events


def flag_from(raised: RiskFlagRaised) -> Flag:
    return Flag(
        kind=raised.kind,
        severity=raised.severity,
        acknowledge_by=raised.acknowledge_by,
        raised_by=raised.producer,
        raised_event_id=raised.event_id,
        correlation_id=raised.correlation_id,
    )


def decide_medications(
    record: IntakeRecord, medications: Sequence[str], stamp: Stamp, rules: IntakeRules
) -> Decided:
    """A medication update, also after approval, re-runs the rule tables; newly matched
    interactions are flagged and carried to the treatment day (DESIGN: interactions)."""
    updated = record.model_copy(deep=True)
    updated.medications = [m.strip().lower() for m in medications]
    events: list[EventBase] = [
        MedicationsUpdated(
            **stamp.envelope(record.patient_id, record.site_id), medications=updated.medications
        )
    ]
    events += _new_contraindications(updated, rules, stamp)
    events += _new_interactions(updated, medications, stamp)
    return updated, events


def charted(
    record: IntakeRecord, field: str, at: datetime | None, stamp: Stamp, skew: timedelta
) -> Stamp:
    """The stamp of an entry charted at `at` (default: now), so its event occurs then. DESIGN
    safety invariant 1 (facts in order): a late entry may be back-dated, never into the future
    beyond clock skew nor before the referral reached the clinic (records from before
    received_at was kept skip that check)."""
    if at is None:
        return stamp
    if at > stamp.now + skew:
        raise ChartedInTheFuture(
            field, f"{field} {at.isoformat()} is after now {stamp.now.isoformat()}"
        )
    if record.received_at is not None and at < record.received_at:
        raise ChartedBeforeReferral(
            field,
            f"{field} {at.isoformat()} precedes the referral's received_at "
            f"{record.received_at.isoformat()}",
        )
    return replace(stamp, now=at)


def decide_consent(
    record: IntakeRecord,
    consent: ConsentKind,
    given: bool,
    stamp: Stamp,
    *,
    recorded_at: datetime | None = None,
    skew: timedelta = timedelta(0),
) -> Decided:
    """Record a consent given, refused or withdrawn. A late entry (`recorded_at`) occurs at its
    charted time and takes its place among the patient's entries by that time, so a back-dated
    entry never overrules a later one (DESIGN safety invariant 1; the session service
    evaluates consent at the charted time of each dose)."""
    at_charted = charted(record, "recorded_at", recorded_at, stamp, skew)
    updated = record.model_copy(deep=True)
    updated.consent_history.append(ConsentEntry(kind=consent, given=given, at=at_charted.now))
    updated.consents[consent.value] = bool(updated.consent(consent))
    return updated, [
        ConsentRecorded(
            **at_charted.envelope(record.patient_id, record.site_id), consent=consent, given=given
        )
    ]
