"""The safety rule table and the interaction table, one test per row, plus re-runs."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.intake import Contraindication, MedicationInteractionFlagged
from contracts.vocabulary import Interaction
from harness.events import stamp
from services.intake.domain import decide_medications
from services.intake.rules import INTERACTION_RULES, SAFETY_RULES, IntakeRules
from tests.unit.intake.builders import refer, types

C = Contraindication
LABEL_CONTRAINDICATIONS = [r.contraindication for r in SAFETY_RULES if r.category != "exclusion"]
EXCLUSIONS = [r.contraindication for r in SAFETY_RULES if r.category == "exclusion"]


def found(events: list[Any]) -> dict[str, bool]:
    return {
        e.contraindication.value: e.blocking
        for e in events
        if e.event_type == "ContraindicationFound"
    }


def test_every_rule_cites_a_source() -> None:
    assert all(len(rule.source) > 10 for rule in SAFETY_RULES + INTERACTION_RULES)
    assert {r.contraindication for r in SAFETY_RULES} == set(Contraindication)


@pytest.mark.parametrize("condition", LABEL_CONTRAINDICATIONS)
def test_a_reported_label_contraindication_blocks(condition: Contraindication) -> None:
    record, events = refer(conditions=[condition.value])
    assert found(events) == {condition.value: True}
    assert record.contraindications[condition].unresolved


@pytest.mark.parametrize("exclusion", EXCLUSIONS)
def test_a_configured_exclusion_blocks(exclusion: Contraindication) -> None:
    _, events = refer(conditions=[exclusion.value])
    assert found(events) == {exclusion.value: True}


@pytest.mark.parametrize("exclusion", EXCLUSIONS)
def test_an_exclusion_the_program_switched_off_is_shown_but_does_not_block(
    exclusion: Contraindication,
) -> None:
    rules = IntakeRules(exclusions=frozenset(set(EXCLUSIONS) - {exclusion}))
    record, events = refer(rules, conditions=[exclusion.value])
    assert found(events) == {exclusion.value: False}
    assert not record.contraindications[exclusion].unresolved


def test_pregnancy_status_pregnant_is_the_pregnancy_exclusion() -> None:
    _, events = refer(pregnancy_status="pregnant")
    assert found(events) == {"pregnancy": True}


@pytest.mark.parametrize("status", ["not_pregnant", "unknown", "not_applicable"])
def test_other_pregnancy_statuses_match_nothing(status: str) -> None:
    assert found(refer(pregnancy_status=status)[1]) == {}


@pytest.mark.parametrize(
    ("systolic", "diastolic", "uncontrolled"),
    [(140, 90, False), (141, 90, True), (140, 91, True), (120, 80, False), (180, 110, True)],
)
def test_intake_blood_pressure_above_140_90_is_uncontrolled_hypertension(
    systolic: int, diastolic: int, uncontrolled: bool
) -> None:
    _, events = refer(intake_blood_pressure={"systolic": systolic, "diastolic": diastolic})
    assert found(events) == ({"uncontrolled_hypertension": True} if uncontrolled else {})


def test_the_hypertension_threshold_is_configuration() -> None:
    rules = IntakeRules(uncontrolled_systolic_above=160, uncontrolled_diastolic_above=100)
    bp = {"systolic": 150, "diastolic": 95}
    assert found(refer(rules, intake_blood_pressure=bp)[1]) == {}


def test_no_intake_blood_pressure_and_no_conditions_match_nothing() -> None:
    assert found(refer()[1]) == {}


@pytest.mark.parametrize("rule", INTERACTION_RULES, ids=lambda r: r.interaction.value)
def test_each_interaction_class_is_flagged_for_each_of_its_medications(rule: Any) -> None:
    medications = sorted(rule.medications)
    record, events = refer(medications=[m.title() for m in medications])
    flagged = [e for e in events if isinstance(e, MedicationInteractionFlagged)]
    assert {e.medication for e in flagged} == set(medications)
    assert {e.interaction for e in flagged} == {rule.interaction}
    assert all(e.monitoring == rule.monitoring for e in flagged)
    assert record.interactions == [rule.interaction.value]


def test_unlisted_medications_are_not_flagged() -> None:
    _, events = refer(medications=["sertraline", "metformin"])
    assert "MedicationInteractionFlagged" not in types(events)


def test_a_medication_update_after_approval_flags_only_new_interactions() -> None:
    record, _ = refer(medications=["levothyroxine"])
    record = record.model_copy(update={"decision": "approved"})
    updated, events = decide_medications(
        record, ["Levothyroxine", "Lorazepam", "phenelzine"], stamp(seed=50), IntakeRules()
    )
    flagged = {
        (e.interaction, e.medication) for e in events if isinstance(e, MedicationInteractionFlagged)
    }
    assert types(events)[0] == "MedicationsUpdated"
    assert flagged == {(Interaction.CNS_DEPRESSANT, "lorazepam"), (Interaction.MAOI, "phenelzine")}
    assert updated.medications == ["levothyroxine", "lorazepam", "phenelzine"]
    again = decide_medications(updated, ["lorazepam"], stamp(seed=60), IntakeRules())[1]
    assert types(again) == ["MedicationsUpdated"]
