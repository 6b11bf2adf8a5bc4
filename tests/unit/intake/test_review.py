"""Prescriber review: approval preconditions, overrides, acknowledgement and escalation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from contracts.intake import Contraindication, RiskFlagAcknowledged, RiskFlagRaised
from contracts.vocabulary import (
    ConsentKind,
    CoveragePathway,
    Decision,
    Modality,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from harness.events import T0, stamp
from services.intake import review
from services.intake.domain import (
    ChartedBeforeReferral,
    ChartedInTheFuture,
    IntakeRecord,
    decide_consent,
)
from services.intake.flags import (
    UnknownRiskFlag,
    decide_acknowledge,
    decide_escalations,
    decide_flag_acknowledged_elsewhere,
    decide_flag_raised_elsewhere,
    escalation_id,
)
from services.intake.review import Approval, decide_eligibility, decide_override
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


def consent(record: IntakeRecord, kind: ConsentKind, given: bool, **charted: Any) -> IntakeRecord:
    return decide_consent(record, kind, given, stamp(seed=80), **charted)[0]


@pytest.mark.parametrize("history", [[False], [True, False]], ids=["refused", "withdrawn"])
def test_approval_is_refused_while_treatment_consent_is_refused_or_withdrawn(
    history: list[bool],
) -> None:
    record = refer()[0]
    for given in history:
        record = consent(record, ConsentKind.TREATMENT, given)
    with pytest.raises(review.TreatmentConsentNotGiven) as refused:
        approve(record)
    assert refused.value.reasons == ["treatment consent refused or withdrawn"]
    assert approve(consent(record, ConsentKind.TREATMENT, True)).decision is Decision.APPROVED


def test_a_treatment_consent_never_recorded_does_not_hold_approval() -> None:
    assert approve(refer()[0]).decision is Decision.APPROVED


def test_a_back_dated_withdrawal_never_overrules_a_later_consent() -> None:
    referred = refer(received_at=(T0 - timedelta(days=1)).isoformat())[0]
    given = consent(referred, ConsentKind.TREATMENT, True)
    late = consent(given, ConsentKind.TREATMENT, False, recorded_at=T0 - timedelta(minutes=1))
    assert late.consents["treatment"] is True
    assert approve(late).decision is Decision.APPROVED


def test_a_back_dated_approval_is_refused_while_consent_stood_withdrawn_then() -> None:
    record = refer(received_at=(T0 - timedelta(days=2)).isoformat())[0]
    record = consent(record, ConsentKind.TREATMENT, False, recorded_at=T0 - timedelta(days=1))
    record = consent(record, ConsentKind.TREATMENT, True)
    with pytest.raises(review.TreatmentConsentNotGiven):
        decide_eligibility(
            record, Decision.APPROVED, IV, None, [], "dr-a", stamp(seed=90),
            decided_at=T0 - timedelta(hours=1),
        )  # fmt: skip
    assert approve(record).decision is Decision.APPROVED


def test_a_record_from_before_the_history_answers_consent_from_its_consents() -> None:
    legacy = refer()[0].model_copy(update={"consents": {"treatment": False}})
    with pytest.raises(review.TreatmentConsentNotGiven):
        approve(legacy)


@pytest.mark.parametrize("severity", list(RiskSeverity))
@pytest.mark.parametrize("producer", ["session", "coaching"])
def test_a_high_or_urgent_flag_raised_anywhere_holds_approval(
    producer: str, severity: RiskSeverity
) -> None:
    raised = raised_elsewhere(producer).model_copy(update={"severity": severity})
    record, _ = decide_flag_raised_elsewhere(refer()[0], raised)
    with pytest.raises(review.UnacknowledgedRiskFlag):
        approve(record)


SESSION_FLAG = uuid.UUID(int=501)


def acknowledged_by_session(flag_id: uuid.UUID = SESSION_FLAG) -> RiskFlagAcknowledged:
    s = stamp(producer="session", seed=600, now=T0 + timedelta(minutes=30))
    return RiskFlagAcknowledged(
        **s.envelope("pat-1", "site-north"), flag_id=flag_id, acknowledged_by="dr-s"
    )


def test_a_session_acknowledgement_clears_intake_copy_of_the_flag_without_an_event() -> None:
    record, _ = decide_flag_raised_elsewhere(refer()[0], raised_elsewhere("session"))
    cleared, events = decide_flag_acknowledged_elsewhere(record, acknowledged_by_session())
    assert events == []
    flag = cleared.flags[str(SESSION_FLAG)]
    assert (flag.acknowledged, flag.acknowledged_by) == (True, "dr-s")
    assert flag.acknowledged_at == T0 + timedelta(minutes=30)
    assert not cleared.awaiting_escalation
    assert approve(cleared).decision is Decision.APPROVED
    assert decide_flag_acknowledged_elsewhere(cleared, acknowledged_by_session()) == (cleared, [])


def test_an_acknowledgement_of_a_flag_intake_never_learnt_of_changes_nothing() -> None:
    record = refer()[0]
    unknown = acknowledged_by_session(uuid.UUID(int=999))
    assert decide_flag_acknowledged_elsewhere(record, unknown) == (record, [])


def test_a_late_consent_and_approval_occur_at_their_charted_times() -> None:
    record = refer(received_at=(T0 - timedelta(days=2)).isoformat())[0]
    assert record.received_at == T0 - timedelta(days=2)
    at = T0 - timedelta(days=1)
    consented, events = decide_consent(
        record, ConsentKind.TREATMENT, True, stamp(seed=80), recorded_at=at
    )
    assert events[0].occurred_at == at
    _, decided = decide_eligibility(
        consented, Decision.APPROVED, IV, None, [], "dr-a", stamp(seed=90),
        decided_at=at + timedelta(hours=1),
    )  # fmt: skip
    assert decided[0].occurred_at == at + timedelta(hours=1)


def test_a_charted_time_in_the_future_beyond_skew_or_before_the_referral_is_refused() -> None:
    record = refer()[0]
    skew = timedelta(minutes=5)
    ahead = decide_consent(
        record, ConsentKind.TREATMENT, True, stamp(), recorded_at=T0 + skew, skew=skew
    )
    assert ahead[1][0].occurred_at == T0 + skew, "within clock skew"
    with pytest.raises(ChartedInTheFuture) as future:
        decide_eligibility(
            record, Decision.APPROVED, IV, None, [], "dr-a", stamp(),
            decided_at=T0 + skew + timedelta(seconds=1), skew=skew,
        )  # fmt: skip
    assert future.value.field == "decided_at"
    with pytest.raises(ChartedBeforeReferral) as early:
        decide_consent(
            record, ConsentKind.TREATMENT, True, stamp(), recorded_at=T0 - timedelta(seconds=1)
        )
    assert early.value.field == "recorded_at"
    assert "precedes the referral's received_at" in early.value.reasons[0]


def test_a_record_from_before_received_at_was_kept_takes_any_past_charted_time() -> None:
    legacy = refer()[0].model_copy(update={"received_at": None})
    long_ago = T0 - timedelta(days=400)
    _, events = decide_consent(legacy, ConsentKind.TREATMENT, True, stamp(), recorded_at=long_ago)
    assert events[0].occurred_at == long_ago
