"""Intake rules: decide_* functions take state, a command and a Stamp, and return events."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Stamp
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    Identity,
    MedicationInteractionFlagged,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
    ScreeningScored,
)
from contracts.vocabulary import (
    ConsentKind,
    CoveragePathway,
    CssrsRisk,
    Decision,
    Modality,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.intake.rules import INTERACTIONS, IntakeRules
from services.intake.scoring import CssrsScreener, cssrs_risk, gad7_band, phq9_band
from services.runtime.errors import NotFound, RuleViolation


class IntakeError(RuleViolation):
    """Base of intake's named rule violations."""


class UnacknowledgedRiskFlag(IntakeError):
    """DESIGN/C-SSRS: eligibility cannot be approved while a risk flag is unacknowledged."""


class RemsEnrolmentMissing(IntakeError):
    """Spravato REMS: the patient must be enrolled before esketamine is approved."""


class ProtocolRequired(IntakeError):
    """An approval must name the protocol the prescriber chose."""


class UnknownRiskFlag(NotFound):
    """No such risk flag on this patient."""


class Trial(BaseModel):
    model_config = ConfigDict(frozen=True)
    drug: str
    adequate_dose: bool
    weeks: int
    failed: bool


class Referral(BaseModel):
    """A referral as accepted by the API (already validated for shape and ranges)."""

    model_config = ConfigDict(frozen=True)
    site_id: str
    referral_source: str
    identity: Identity
    medications: tuple[str, ...]
    trials: tuple[Trial, ...]
    phq9: tuple[int, ...]
    gad7: tuple[int, ...]
    cssrs: CssrsScreener


class Flag(BaseModel):
    kind: RiskKind
    acknowledged: bool = False


class IntakeRecord(BaseModel):
    patient_id: str
    site_id: str
    identity: Identity
    phq9_total: int
    gad7_total: int
    adequate_failed_trials: int
    interactions: list[str] = Field(default_factory=list)
    flags: dict[str, Flag] = Field(default_factory=dict)
    consents: dict[str, bool] = Field(default_factory=dict)
    decision: Decision | None = None
    protocol: Protocol | None = None


def adequate_failed_trials(trials: tuple[Trial, ...], rules: IntakeRules) -> int:
    """Treatment-resistant depression: failed trials of adequate dose and >= 6 weeks each in
    the current episode (Spravato label indication; payer TRD definitions; DESIGN)."""
    return sum(
        t.failed and t.adequate_dose and t.weeks >= rules.trd_min_trial_weeks for t in trials
    )


def interactions_of(medications: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(interaction, medication, monitoring) for each listed medication in the table."""
    found = []
    for interaction, (names, monitoring) in INTERACTIONS.items():
        for medication in medications:
            if medication.strip().lower() in names:
                found.append((interaction.value, medication.strip().lower(), monitoring))
    return found


def coverage_pathway(protocol: Protocol, failed_trials: int, rules: IntakeRules) -> CoveragePathway:
    """Esketamine for TRD is usually covered; IV ketamine is off-label (partial or
    reimbursement); anything else is self-pay (DESIGN: coverage pathway)."""
    if protocol is Protocol.ESKETAMINE_TRD and failed_trials >= rules.trd_min_failed_trials:
        return CoveragePathway.ESKETAMINE_COVERED
    if protocol is Protocol.IV_KETAMINE_SERIES:
        return CoveragePathway.IV_PARTIAL_OR_REIMBURSEMENT
    return CoveragePathway.SELF_PAY


def decide_referral(
    patient_id: str, referral: Referral, stamp: Stamp, rules: IntakeRules, new_flag_id: UUID
) -> tuple[
    IntakeRecord,
    list[RiskFlagRaised | PatientReferred | ScreeningScored | MedicationInteractionFlagged],
]:
    """Score the screeners, raise risk flags and interaction flags for a new referral."""
    envelope = stamp.envelope(patient_id, referral.site_id)
    phq9_total, gad7_total = sum(referral.phq9), sum(referral.gad7)
    item9 = referral.phq9[8]
    risk = cssrs_risk(referral.cssrs)
    trials = adequate_failed_trials(referral.trials, rules)
    events: list[
        RiskFlagRaised | PatientReferred | ScreeningScored | MedicationInteractionFlagged
    ] = [
        PatientReferred(
            **envelope, referral_source=referral.referral_source, identity=referral.identity
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
    record = IntakeRecord(
        patient_id=patient_id,
        site_id=referral.site_id,
        identity=referral.identity,
        phq9_total=phq9_total,
        gad7_total=gad7_total,
        adequate_failed_trials=trials,
    )
    flag = risk_flag(item9, risk, rules)
    if flag is not None:
        kind, severity, hours = flag
        events.append(
            RiskFlagRaised(
                **stamp.envelope(patient_id, referral.site_id),
                flag_id=new_flag_id,
                kind=kind,
                severity=severity,
                acknowledge_by=stamp.now + timedelta(hours=hours),
            )
        )
        record.flags[str(new_flag_id)] = Flag(kind=kind)
    for interaction, medication, monitoring in interactions_of(referral.medications):
        events.append(
            MedicationInteractionFlagged(
                **stamp.envelope(patient_id, referral.site_id),
                interaction=interaction,
                medication=medication,
                monitoring=monitoring,
            )
        )
        record.interactions.append(interaction)
    return record, events


def risk_flag(
    item9: int, risk: CssrsRisk, rules: IntakeRules
) -> tuple[RiskKind, RiskSeverity, float] | None:
    """PHQ-9 item 9 > 0 raises an urgent-review flag; C-SSRS high risk needs immediate
    clinician review (PHQ-9 guide; C-SSRS screener triage; DESIGN: screening)."""
    if risk is CssrsRisk.HIGH:
        return RiskKind.CSSRS_HIGH, RiskSeverity.URGENT, rules.urgent_flag_ack_hours
    if item9 > 0:
        return RiskKind.PHQ9_ITEM9, RiskSeverity.HIGH, rules.high_flag_ack_hours
    return None


def decide_acknowledge(
    record: IntakeRecord, flag_id: str, by: str, stamp: Stamp
) -> tuple[IntakeRecord, list[RiskFlagAcknowledged]]:
    flag = record.flags.get(flag_id)
    if flag is None:
        raise UnknownRiskFlag(flag_id)
    if flag.acknowledged:
        return record, []
    updated = record.model_copy(deep=True)
    updated.flags[flag_id].acknowledged = True
    return updated, [
        RiskFlagAcknowledged(
            **stamp.envelope(record.patient_id, record.site_id),
            flag_id=UUID(flag_id),
            acknowledged_by=by,
        )
    ]


def decide_consent(
    record: IntakeRecord, consent: ConsentKind, given: bool, stamp: Stamp
) -> tuple[IntakeRecord, list[ConsentRecorded]]:
    updated = record.model_copy(deep=True)
    updated.consents[consent.value] = given
    return updated, [
        ConsentRecorded(
            **stamp.envelope(record.patient_id, record.site_id), consent=consent, given=given
        )
    ]


def decide_eligibility(
    record: IntakeRecord,
    decision: Decision,
    protocol: Protocol | None,
    modality: Modality | None,
    planned_doses: int | None,
    prescriber: str,
    stamp: Stamp,
    rules: IntakeRules,
) -> tuple[IntakeRecord, list[EligibilityDecided]]:
    """Only approvals carry clinical preconditions: no open risk flag (C-SSRS/PHQ-9 item 9),
    a protocol, and REMS enrolment for esketamine (Spravato REMS)."""
    pathway = None
    if decision is Decision.APPROVED:
        if any(not f.acknowledged for f in record.flags.values()):
            raise UnacknowledgedRiskFlag(record.patient_id)
        if protocol is None:
            raise ProtocolRequired(record.patient_id)
        if protocol is Protocol.ESKETAMINE_TRD and not record.consents.get(
            ConsentKind.REMS_ENROLMENT.value
        ):
            raise RemsEnrolmentMissing(record.patient_id)
        pathway = coverage_pathway(protocol, record.adequate_failed_trials, rules)
    updated = record.model_copy(update={"decision": decision, "protocol": protocol})
    return updated, [
        EligibilityDecided(
            **stamp.envelope(record.patient_id, record.site_id),
            decision=decision,
            decided_by=prescriber,
            protocol=protocol,
            modality=modality,
            planned_doses=planned_doses,
            coverage_pathway=pathway,
        )
    ]
