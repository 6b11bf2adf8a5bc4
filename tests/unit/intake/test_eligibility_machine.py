"""Random sequences of what happens around an eligibility review - risk flags raised by
screening, session or coaching, acknowledgements, REMS or treatment consent given or withdrawn,
approvals and other decisions - and after every step: no approval while a high or urgent risk
flag is open or treatment consent is refused or withdrawn, no esketamine approval without REMS
enrolment, nothing decided after an approval or a decline (DESIGN: screening, safety
invariants 4 and 7)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.intake import EligibilityDecided, RiskFlagRaised
from contracts.vocabulary import ConsentKind, Decision, Protocol, RiskKind, RiskSeverity
from harness.events import T0, stamp
from services.intake.domain import IntakeRecord, decide_consent
from services.intake.flags import decide_acknowledge, decide_flag_raised_elsewhere
from services.intake.review import Approval, IntakeRefusal, decide_eligibility
from tests.unit.intake.builders import refer

BLOCKING = (RiskSeverity.HIGH, RiskSeverity.URGENT)


class EligibilityReview(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.seed = 1000
        self.record: IntakeRecord = refer()[0]
        self.decisions: list[tuple[EligibilityDecided, set[str], bool]] = []
        self.treatment_refused_at_approval: list[bool] = []

    def next_stamp(self, producer: str = "intake") -> object:
        self.seed += 1
        return stamp(producer=producer, seed=self.seed)

    @property
    def open_blocking(self) -> set[str]:
        return {i for i, f in self.record.flags.items()
                if not f.acknowledged and f.severity in BLOCKING}  # fmt: skip

    @rule(
        producer=st.sampled_from(["session", "coaching"]),
        severity=st.sampled_from(list(RiskSeverity)),
    )
    def a_flag_is_raised_elsewhere(self, producer: str, severity: RiskSeverity) -> None:
        self.seed += 1
        raised = RiskFlagRaised(
            **stamp(producer=producer, seed=self.seed).envelope(self.record.patient_id,
                                                                self.record.site_id),
            flag_id=uuid.UUID(int=self.seed),
            kind=RiskKind.SERIOUS_ADVERSE_EVENT,
            severity=severity,
            acknowledge_by=T0 + timedelta(hours=24),
        )  # fmt: skip
        self.record, _ = decide_flag_raised_elsewhere(self.record, raised)

    @precondition(lambda self: bool(self.record.flags))
    @rule(data=st.data())
    def a_psychiatrist_acknowledges_a_flag(self, data: st.DataObject) -> None:
        flag_id = data.draw(st.sampled_from(sorted(self.record.flags)))
        self.seed += 1
        self.record, _ = decide_acknowledge(
            self.record, flag_id, "dr-a", "reviewed", stamp(seed=self.seed)
        )

    @rule(kind=st.sampled_from([ConsentKind.REMS_ENROLMENT, ConsentKind.TREATMENT]),
          given=st.booleans())  # fmt: skip
    def a_consent_changes(self, kind: ConsentKind, given: bool) -> None:
        self.seed += 1
        self.record, _ = decide_consent(self.record, kind, given, stamp(seed=self.seed))

    @rule(
        decision=st.sampled_from(list(Decision)),
        protocol=st.sampled_from([Protocol.ESKETAMINE_TRD, Protocol.IV_KETAMINE_SERIES]),
    )
    def a_psychiatrist_decides(self, decision: Decision, protocol: Protocol) -> None:
        before = set(self.open_blocking)
        enrolled = self.record.consents.get(ConsentKind.REMS_ENROLMENT.value, False)
        treatment_refused = self.record.consents.get(ConsentKind.TREATMENT.value) is False
        self.seed += 1
        try:
            self.record, events = decide_eligibility(
                self.record, decision, Approval(protocol, None), None, [], "dr-a",
                stamp(seed=self.seed),
            )  # fmt: skip
        except IntakeRefusal:
            return
        decided = events[0]
        assert isinstance(decided, EligibilityDecided)
        self.decisions.append((decided, before, enrolled))
        if decided.decision is Decision.APPROVED:
            self.treatment_refused_at_approval.append(treatment_refused)

    @invariant()
    def no_approval_while_a_high_risk_flag_is_open(self) -> None:
        for decided, open_flags, _ in self.decisions:
            if decided.decision is Decision.APPROVED:
                assert not open_flags, "approved while a high or urgent flag was open"

    @invariant()
    def no_approval_while_treatment_consent_is_refused_or_withdrawn(self) -> None:
        assert not any(self.treatment_refused_at_approval)

    @invariant()
    def no_esketamine_approval_without_rems_enrolment(self) -> None:
        for decided, _, enrolled in self.decisions:
            if (
                decided.decision is Decision.APPROVED
                and decided.protocol is Protocol.ESKETAMINE_TRD
            ):
                assert enrolled

    @invariant()
    def an_approval_or_a_decline_is_final(self) -> None:
        for n, (decided, _, _) in enumerate(self.decisions):
            if decided.decision in (Decision.APPROVED, Decision.DECLINED):
                assert n == len(self.decisions) - 1, "a decision followed a final one"


EligibilityReview.TestCase.settings = settings(
    max_examples=100, stateful_step_count=25, deadline=None
)
test_eligibility_review = EligibilityReview.TestCase
