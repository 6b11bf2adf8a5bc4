"""Prescriber review: approval preconditions, overrides, acknowledgement and escalation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from contracts.intake import Contraindication, RiskFlagRaised
from contracts.vocabulary import (
    ConsentKind,
    CoveragePathway,
    Decision,
    Modality,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from services.intake import review
from services.intake.domain import (
    IntakeRecord,
    UnknownRiskFlag,
    decide_acknowledge,
    decide_consent,
    decide_escalations,
    decide_flag_raised_elsewhere,
    escalation_id,
)
from services.intake.review import Approval, decide_eligibility, decide_override
from tests.support.events import T0, stamp
from tests.unit.intake.builders import FLAG_ID, refer

ESKETAMINE = Approval(Protocol.ESKETAMINE_TRD, None)
IV = Approval(Protocol.IV_KETAMINE_SERIES, None)


def approve(record: IntakeRecord, approval: Approval = IV) -> IntakeRecord:
    state, events = decide_eligibility(
        record, Decision.APPROVED, approval, None, [], "dr-a", stamp(seed=90)
    )
    assert events[0].event_type == "EligibilityDecided"
    return state


def enrolled(record: IntakeRecord) -> IntakeRecord:
    return decide_consent(record, ConsentKind.REMS_ENROLMENT, True, stamp(seed=80))[0]


def test_a_clean_referral_is_approved_with_the_coverage_pathway_and_default_modality() -> None:
    record = enrolled(refer()[0])
    _, events = decide_eligibility(
        record, Decision.APPROVED, ESKETAMINE, 8, [], "dr-a", stamp(seed=90)
    )
    decided = events[0].model_dump()
    assert decided["coverage_pathway"] is CoveragePathway.ESKETAMINE_COVERED
    assert decided["modality"] is Modality.INTRANASAL
    assert decided["reasons"][0] == "payer default"


def test_approval_is_refused_while_a_risk_flag_is_unacknowledged() -> None:
    record = refer(phq9=[1, 1, 1, 1, 1, 1, 1, 1, 1])[0]
    with pytest.raises(review.UnacknowledgedRiskFlag) as refused:
        approve(record)
    assert refused.value.reasons == [f"phq9_item9 flag {FLAG_ID}"]
    acknowledged, events = decide_acknowledge(
        record, str(FLAG_ID), "dr-a", "safety plan", stamp(seed=70)
    )
    assert events[0].event_type == "RiskFlagAcknowledged"
    assert acknowledged.flags[str(FLAG_ID)].note == "safety plan"
    assert approve(acknowledged).decision is Decision.APPROVED


def test_acknowledging_twice_emits_once_and_unknown_flags_are_404() -> None:
    record = refer(phq9=[1, 1, 1, 1, 1, 1, 1, 1, 1])[0]
    once, _ = decide_acknowledge(record, str(FLAG_ID), "dr-a", "n", stamp(seed=70))
    assert decide_acknowledge(once, str(FLAG_ID), "dr-b", "n", stamp(seed=71))[1] == []
    with pytest.raises(UnknownRiskFlag):
        decide_acknowledge(record, str(uuid.UUID(int=1)), "dr-a", "n", stamp())


@pytest.mark.parametrize("condition", list(Contraindication))
def test_a_blocking_contraindication_refuses_approval_until_overridden_with_a_reason(
    condition: Contraindication,
) -> None:
    record = refer(conditions=[condition.value])[0]
    with pytest.raises(review.ContraindicationNotOverridden) as refused:
        approve(record)
    assert refused.value.reasons == [condition.value]
    overridden, events = decide_override(record, condition, "benefit outweighs", "dr-a", stamp())
    assert events[0].model_dump()["reason"] == "benefit outweighs"
    assert approve(overridden).decision is Decision.APPROVED
    with pytest.raises(review.NothingToOverride):
        decide_override(overridden, condition, "again", "dr-a", stamp())


def test_overriding_a_contraindication_that_was_not_found_is_404() -> None:
    with pytest.raises(review.ContraindicationNotFound):
        decide_override(refer()[0], Contraindication.PSYCHOSIS, "r", "dr-a", stamp())


def test_esketamine_without_rems_enrolment_is_refused() -> None:
    with pytest.raises(review.RemsEnrolmentMissing):
        approve(refer()[0], ESKETAMINE)
    refused = decide_consent(refer()[0], ConsentKind.REMS_ENROLMENT, False, stamp())[0]
    with pytest.raises(review.RemsEnrolmentMissing):
        approve(refused, ESKETAMINE)


def test_an_approval_needs_a_protocol_and_a_matching_modality() -> None:
    with pytest.raises(review.ProtocolRequired):
        approve(refer()[0], Approval(None, None))
    with pytest.raises(review.ModalityNotInProtocol):
        approve(refer()[0], Approval(Protocol.IV_KETAMINE_SERIES, Modality.INTRANASAL))
    low_dose = Approval(Protocol.LOW_DOSE_KAP, Modality.INTRAMUSCULAR)
    assert approve(refer()[0], low_dose).modality is Modality.INTRAMUSCULAR


def test_decline_and_more_information_need_no_preconditions_and_approval_is_final() -> None:
    flagged = refer(phq9=[1, 1, 1, 1, 1, 1, 1, 1, 1], conditions=["psychosis"])[0]
    asked, events = decide_eligibility(
        flagged, Decision.NEEDS_MORE_INFORMATION, Approval(None, None), None,
        ["cardiology letter"], "dr-a", stamp(),
    )  # fmt: skip
    assert events[0].model_dump()["reasons"] == ["cardiology letter"]
    declined, _ = decide_eligibility(
        asked, Decision.DECLINED, Approval(None, None), None, [], "dr-a", stamp()
    )
    with pytest.raises(review.EligibilityAlreadyDecided):
        approve(declined)


def raised_elsewhere(producer: str, hours: float = 24) -> RiskFlagRaised:
    s = stamp(producer=producer, seed=500)
    return RiskFlagRaised(
        **s.envelope("pat-1", "site-north"),
        flag_id=uuid.UUID(int=501),
        kind=RiskKind.SERIOUS_ADVERSE_EVENT,
        severity=RiskSeverity.URGENT,
        acknowledge_by=T0 + timedelta(hours=hours),
    )


@pytest.mark.parametrize("producer", ["session", "coaching"])
def test_flags_raised_by_session_or_coaching_hold_approval_until_acknowledged_here(
    producer: str,
) -> None:
    record, events = decide_flag_raised_elsewhere(refer()[0], raised_elsewhere(producer))
    assert events == []
    assert record.flags[str(uuid.UUID(int=501))].raised_by == producer
    with pytest.raises(review.UnacknowledgedRiskFlag):
        approve(record)
    again, _ = decide_flag_raised_elsewhere(record, raised_elsewhere(producer, hours=99))
    assert again.flags == record.flags


def test_an_unacknowledged_flag_past_its_deadline_is_escalated_once() -> None:
    record = refer(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 2])[0]
    deadline = T0 + timedelta(hours=24)
    assert decide_escalations(record, deadline - timedelta(seconds=1), "intake")[1] == []
    assert record.awaiting_escalation
    escalated, events = decide_escalations(record, deadline, "intake")
    assert [e.event_id for e in events] == [escalation_id(str(FLAG_ID))]
    assert events[0].occurred_at == deadline
    assert not escalated.awaiting_escalation
    assert decide_escalations(escalated, deadline + timedelta(days=1), "intake")[1] == []
    twin = decide_escalations(record, deadline + timedelta(hours=3), "intake")[1]
    assert twin == events, "a second sweeper derives the very same event"


def test_an_acknowledged_flag_is_never_escalated() -> None:
    record = refer(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 2])[0]
    acknowledged, _ = decide_acknowledge(record, str(FLAG_ID), "dr-a", "seen", stamp())
    assert decide_escalations(acknowledged, T0 + timedelta(days=2), "intake")[1] == []
