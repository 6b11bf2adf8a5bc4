"""Prescriber review: contraindication overrides and the eligibility decision with its
preconditions, which are a table of checks evaluated in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from contracts.envelope import Stamp
from contracts.intake import Contraindication, ContraindicationOverridden, EligibilityDecided
from contracts.vocabulary import ConsentKind, Decision, Modality, Protocol
from services.intake.coverage import pathway_for
from services.intake.domain import Decided, IntakeRecord, charted
from services.intake.rules import PROTOCOL_MODALITIES
from services.runtime.refusals import NotFound, RuleViolation


class IntakeRefusal(RuleViolation):
    """Base of intake's named rule violations; `reasons` says specifically what is unmet."""

    def __init__(self, *reasons: str) -> None:
        super().__init__(*reasons)
        self.reasons = list(reasons)


class UnacknowledgedRiskFlag(IntakeRefusal):
    """DESIGN/C-SSRS: eligibility cannot be approved while a risk flag is unacknowledged."""


class TreatmentConsentNotGiven(IntakeRefusal):
    """DESIGN safety invariant 7: approval is refused while the patient's treatment consent is
    recorded as refused or withdrawn. A consent not yet recorded does not hold the approval:
    the session service refuses the dose until it is given (invariant 3)."""


class ContraindicationNotOverridden(IntakeRefusal):
    """Spravato label contraindications (and program exclusions) block approval until a
    prescriber overrides them with a reason."""


class RemsEnrolmentMissing(IntakeRefusal):
    """Spravato REMS: the patient must be enrolled before esketamine is approved."""


class ProtocolRequired(IntakeRefusal):
    """An approval must name the protocol the prescriber chose."""


class ModalityNotInProtocol(IntakeRefusal):
    """The modality must be one the chosen protocol uses (DESIGN: protocols)."""


class EligibilityAlreadyDecided(IntakeRefusal):
    """Approval and decline are final; a new referral starts a new review."""


class ContraindicationNotFound(NotFound):
    """No such contraindication was found for this patient."""


class NothingToOverride(IntakeRefusal):
    """Only a blocking contraindication that is not yet overridden can be overridden."""


@dataclass(frozen=True)
class Approval:
    protocol: Protocol | None
    modality: Modality | None
    decided_at: datetime | None = None
    """The charted time of the decision (a late entry may be back-dated); None: now."""


Check = Callable[[IntakeRecord, Approval], IntakeRefusal | None]


def not_final(record: IntakeRecord, _a: Approval) -> IntakeRefusal | None:
    final = record.decision in (Decision.APPROVED, Decision.DECLINED)
    return EligibilityAlreadyDecided(f"already {record.decision}") if final else None


def flags_acknowledged(record: IntakeRecord, _a: Approval) -> IntakeRefusal | None:
    """C-SSRS screener / PHQ-9 item 9: no approval while a risk flag awaits review (DESIGN)."""
    open_flags = [f"{f.kind.value} flag {i}" for i, f in record.flags.items() if not f.acknowledged]
    return UnacknowledgedRiskFlag(*open_flags) if open_flags else None


def treatment_consent_not_refused(record: IntakeRecord, approval: Approval) -> IntakeRefusal | None:
    """DESIGN safety invariant 7: no approval while treatment consent is refused or withdrawn,
    neither as charted at the time of the decision nor as the latest entry stands now."""
    kind = ConsentKind.TREATMENT
    refused = False in (record.consent(kind, approval.decided_at), record.consent(kind))
    return (
        TreatmentConsentNotGiven(f"{kind.value} consent refused or withdrawn") if refused else None
    )


def contraindications_overridden(record: IntakeRecord, _a: Approval) -> IntakeRefusal | None:
    """Spravato label section 4 and program exclusions: block unless overridden."""
    blocking = [k.value for k, f in record.contraindications.items() if f.unresolved]
    return ContraindicationNotOverridden(*blocking) if blocking else None


def protocol_named(_r: IntakeRecord, approval: Approval) -> IntakeRefusal | None:
    return ProtocolRequired("protocol") if approval.protocol is None else None


def modality_fits(_r: IntakeRecord, approval: Approval) -> IntakeRefusal | None:
    allowed = PROTOCOL_MODALITIES.get(approval.protocol, ()) if approval.protocol else ()
    misfit = approval.modality is not None and approval.modality not in allowed
    reason = f"{approval.modality} with {approval.protocol}"
    return ModalityNotInProtocol(reason) if misfit else None


def rems_enrolled(record: IntakeRecord, approval: Approval) -> IntakeRefusal | None:
    """Spravato REMS: esketamine only for patients enrolled in the REMS."""
    needs = approval.protocol is Protocol.ESKETAMINE_TRD
    enrolled = bool(record.consent(ConsentKind.REMS_ENROLMENT))
    missing = needs and not enrolled
    return RemsEnrolmentMissing(ConsentKind.REMS_ENROLMENT.value) if missing else None


APPROVAL_CHECKS: tuple[Check, ...] = (
    not_final,
    flags_acknowledged,
    treatment_consent_not_refused,
    contraindications_overridden,
    protocol_named,
    modality_fits,
    rems_enrolled,
)
"""Preconditions of an approval, in the order a refusal names them."""

OTHER_DECISION_CHECKS: tuple[Check, ...] = (not_final,)


def decide_eligibility(
    record: IntakeRecord,
    decision: Decision,
    approval: Approval,
    planned_doses: int | None,
    reasons: list[str],
    prescriber: str,
    stamp: Stamp,
    *,
    decided_at: datetime | None = None,
    skew: timedelta = timedelta(0),
) -> Decided:
    """Only a licensed mental-health prescriber decides (the route requires the psychiatrist
    role); approvals carry the clinical preconditions above and the coverage pathway. A late
    entry (`decided_at`) occurs at its charted time (DESIGN safety invariant 1)."""
    stamp = charted(record, "decided_at", decided_at, stamp, skew)
    approval = replace(approval, decided_at=stamp.now)
    checks = APPROVAL_CHECKS if decision is Decision.APPROVED else OTHER_DECISION_CHECKS
    for check in checks:
        refusal = check(record, approval)
        if refusal is not None:
            raise refusal
    pathway, modality = None, approval.modality
    if decision is Decision.APPROVED and approval.protocol is not None:
        modality = modality or PROTOCOL_MODALITIES[approval.protocol][0]
        if record.coverage is not None:
            pathway, coverage_reasons = pathway_for(approval.protocol, record.coverage)
            reasons = [*reasons, *coverage_reasons]
    updated = record.model_copy(
        update={"decision": decision, "protocol": approval.protocol, "modality": modality}
    )
    return updated, [
        EligibilityDecided(
            **stamp.envelope(record.patient_id, record.site_id),
            decision=decision,
            decided_by=prescriber,
            protocol=approval.protocol,
            modality=modality,
            planned_doses=planned_doses,
            coverage_pathway=pathway,
            reasons=[r[:64] for r in reasons],
        )
    ]


def decide_override(
    record: IntakeRecord, kind: Contraindication, reason: str, prescriber: str, stamp: Stamp
) -> Decided:
    """A prescriber may override a blocking contraindication, with a reason on record
    (DESIGN: contraindications block or require prescriber override)."""
    finding = record.contraindications.get(kind)
    if finding is None:
        raise ContraindicationNotFound(kind.value)
    if not finding.unresolved:
        raise NothingToOverride(kind.value)
    updated = record.model_copy(deep=True)
    updated.contraindications[kind] = finding.model_copy(
        update={"overridden_by": prescriber, "override_reason": reason}
    )
    return updated, [
        ContraindicationOverridden(
            **stamp.envelope(record.patient_id, record.site_id),
            contraindication=kind,
            overridden_by=prescriber,
            reason=reason,
        )
    ]
