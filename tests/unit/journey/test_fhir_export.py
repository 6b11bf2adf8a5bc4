"""The FHIR R4B export of a journey: valid resources, references that resolve, stable ids."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from contracts import EventBase
from contracts.generate import GENERATED, example_fhir_bundle
from contracts.intake import PatientReferred
from contracts.session import DoseAdministered
from contracts.vocabulary import Protocol
from harness.events import SYNTHETIC_IDENTITY, T0, approved, referred, screened, stamp
from services.journey import fhir_codes as codes
from services.journey.domain import Journey, add
from services.journey.fhir import bundle
from services.journey.fhir_example import example_events

Resource = dict[str, Any]


def folded(events: list[EventBase]) -> Journey:
    """The journey built one event at a time, as the live projection does."""
    journey: Journey | None = None
    for event in events:
        journey = add(journey, event.patient_id, event)
    assert journey is not None
    return journey


def treated() -> Journey:
    return folded(example_events())


def resources(found: Resource, kind: str | None = None) -> list[Resource]:
    every = [e["resource"] for e in found["entry"]]
    return [r for r in every if kind is None or r["resourceType"] == kind]


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def codes_of(resource: Resource) -> set[str]:
    return coded(resource.get("code", {}))


def coded(concept: Resource) -> set[str]:
    return {c["code"] for c in concept.get("coding", ())}


REQUIRED_BINDINGS: dict[tuple[str, str], set[str]] = {
    ("Observation", "status"): {"registered", "preliminary", "final", "amended", "corrected",
                                "cancelled", "entered-in-error", "unknown"},
    ("QuestionnaireResponse", "status"): {"in-progress", "completed", "amended",
                                          "entered-in-error", "stopped"},
    ("MedicationAdministration", "status"): {"in-progress", "not-done", "on-hold", "completed",
                                             "entered-in-error", "stopped", "unknown"},
    ("Appointment", "status"): {"proposed", "pending", "booked", "arrived", "fulfilled",
                                "cancelled", "noshow", "entered-in-error", "checked-in",
                                "waitlist"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                             "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("Task", "status"): {"draft", "requested", "received", "accepted", "rejected", "ready",
                         "cancelled", "in-progress", "on-hold", "failed", "completed",
                         "entered-in-error"},
    ("Task", "intent"): {"unknown", "proposal", "plan", "order", "original-order",
                         "reflex-order", "filler-order", "instance-order", "option"},
    ("Flag", "status"): {"active", "inactive", "entered-in-error"},
    ("AdverseEvent", "actuality"): {"actual", "potential"},
}  # fmt: skip
"""R4B's required value sets for the codes we set (fhir.resources does not check them)."""


def test_a_treated_patients_bundle_validates_with_the_r4b_models() -> None:
    journey = treated()
    exported = bundle(journey)

    Bundle.model_validate(exported)
    for resource in resources(exported):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)

    count = Counter(r["resourceType"] for r in resources(exported))
    timeline = Counter(e.event_type for e in journey.timeline)
    screenings = timeline["ScreeningScored"]
    assert count["Patient"] == count["Condition"] == count["CarePlan"] == 1
    assert count["MedicationAdministration"] == journey.doses_given == 2
    assert count["QuestionnaireResponse"] == len(journey.phq9) + screenings
    assert count["Observation"] == len(journey.phq9) + screenings + timeline["VitalsRecorded"]
    assert count["Appointment"] == len(journey.appointments)
    assert count["Task"] == timeline["FollowUpTaskCreated"]
    assert count["Flag"] == len(journey.open_risk_flags) == 1
    assert count["AdverseEvent"] == timeline["AdverseEventReported"] == 1


def test_the_r4b_models_do_reject_a_malformed_resource() -> None:
    """The validation above is not vacuous (types, required and unknown elements)."""
    observation = resources(bundle(treated()), "Observation")[0]
    model = get_fhir_model_class("Observation")
    for broken in (
        {**observation, "effectiveDateTime": "yesterday"},
        {**observation, "favourite_colour": "blue"},
        {k: v for k, v in observation.items() if k != "status"},
    ):
        with pytest.raises(ValidationError):
            model.model_validate(broken)


def test_coded_statuses_come_from_the_required_r4b_value_sets() -> None:
    exported = bundle(treated())
    assert exported["type"] == "collection"
    for resource in resources(exported):
        for (kind, element), allowed in REQUIRED_BINDINGS.items():
            if resource["resourceType"] == kind:
                assert resource[element] in allowed, (kind, element)


def test_every_reference_resolves_inside_the_bundle() -> None:
    exported = bundle(treated())
    full_urls = [e["fullUrl"] for e in exported["entry"]]

    assert len(set(full_urls)) == len(full_urls)
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in exported["entry"])
    cited = list(references(exported))
    assert cited, "the bundle links nothing"
    assert set(cited) <= set(full_urls)


def test_phq9_totals_match_the_journey() -> None:
    journey = treated()
    exported = bundle(journey)
    by_url = {e["fullUrl"]: e["resource"] for e in exported["entry"]}
    totals = sorted(
        (o for o in resources(exported, "Observation") if codes.PHQ9_TOTAL["code"] in codes_of(o)),
        key=lambda o: o["effectiveDateTime"],
    )

    assert [o["valueInteger"] for o in totals] == [p["total"] for p in journey.phq9]
    for observation in totals:
        (source,) = observation["derivedFrom"]
        answers = by_url[source["reference"]]["item"]
        total = next(i for i in answers if i["linkId"] == codes.PHQ9_TOTAL["code"])
        assert total["answer"] == [{"valueInteger": observation["valueInteger"]}]


def test_each_dose_carries_its_medicine_route_amount_and_lot() -> None:
    journey = treated()
    exported = bundle(journey)
    by_url = {e["fullUrl"]: e["resource"] for e in exported["entry"]}
    doses = [e for e in journey.timeline if e.event_type == "DoseAdministered"]
    given = resources(exported, "MedicationAdministration")

    assert [a["dosage"]["dose"]["value"] for a in given] == [d.facts["dose_mg"] for d in doses]
    lots = [by_url[a["medicationReference"]["reference"]]["batch"]["lotNumber"] for a in given]
    assert lots == [d.facts["lot_number"] for d in doses]
    for administration in given:
        medication = by_url[administration["medicationReference"]["reference"]]
        assert codes_of(medication) == {codes.ESKETAMINE_NASAL_SPRAY["code"]}
        assert coded(administration["dosage"]["route"]) == {codes.ROUTES["intranasal"]["code"]}


def test_an_iv_ketamine_dose_is_coded_as_intravenous_ketamine() -> None:
    pid = "pat-iv"
    dose = DoseAdministered(
        **stamp("session", T0 + timedelta(days=3), 500).envelope(pid, "site-north"),
        session_id="ses-1",
        appointment_id="apt-1",
        protocol=Protocol.IV_KETAMINE_SERIES,
        dose_mg=35,
        dose_number=1,
        lot_number="LOT-T-1",
        administered_by="rn-1",
        weight_kg=70,
        infusion_minutes=40,
    )
    journey = folded(
        [
            referred(pid),
            screened(pid, s=stamp(seed=100)),
            approved(pid, s=stamp(seed=200), protocol=Protocol.IV_KETAMINE_SERIES),
            dose,
        ]
    )
    exported = bundle(journey)
    (administration,) = resources(exported, "MedicationAdministration")
    (medication,) = resources(exported, "Medication")

    assert codes_of(medication) == {codes.KETAMINE["code"]}
    assert coded(administration["dosage"]["route"]) == {codes.ROUTES["intravenous"]["code"]}
    get_fhir_model_class("MedicationAdministration").model_validate(administration)


@pytest.mark.parametrize(("failed_trials", "expected"), [(2, "1153570009"), (1, "370143000")])
def test_the_condition_is_treatment_resistant_depression_after_two_failed_trials(
    failed_trials: int, expected: str
) -> None:
    pid = "pat-cond"
    screening = screened(pid, s=stamp(seed=100)).model_copy(
        update={"adequate_failed_trials": failed_trials}
    )
    (condition,) = resources(bundle(folded([referred(pid), screening])), "Condition")
    assert codes_of(condition) == {expected}


def test_repeated_exports_are_identical_whatever_order_the_events_arrived_in() -> None:
    events = example_events()
    assert bundle(folded(events)) == bundle(folded(list(reversed(events))))


def test_since_returns_only_resources_changed_after_it() -> None:
    journey = treated()
    full = bundle(journey)
    second_dose = next(
        e
        for e in journey.timeline
        if e.event_type == "DoseAdministered" and e.facts["dose_number"] == 2
    )
    since = second_dose.occurred_at - timedelta(seconds=1)
    changed = bundle(journey, since)
    updated = {r["id"]: r["meta"]["lastUpdated"] for r in resources(full)}

    kept = {r["id"] for r in resources(changed)}
    expected = {rid for rid, at in updated.items() if datetime.fromisoformat(at) > since}
    (patient,) = resources(full, "Patient")
    assert kept == expected | {patient["id"]}
    assert 1 < len(kept) < len(updated)
    assert {r["resourceType"] for r in resources(changed)} >= {"MedicationAdministration", "Flag"}
    assert "Condition" not in {r["resourceType"] for r in resources(changed)}
    # Unchanged resources keep their ids, so a receiver resolves them from the earlier export.
    assert set(references(changed)) <= {e["fullUrl"] for e in full["entry"]}


def test_an_identified_patient_validates_and_drops_the_pseudonymous_label() -> None:
    identity = {
        "given_name": "Test",
        "family_name": "Patient",
        "date_of_birth": "1980-01-01",
        "email": "test.patient@example.org",
    }
    (patient,) = resources(bundle(treated(), identity=identity), "Patient")

    get_fhir_model_class("Patient").model_validate(patient)
    assert patient["name"] == [{"family": "Patient", "given": ["Test"]}]
    assert patient["telecom"] == [{"system": "email", "value": "test.patient@example.org"}]
    assert "security" not in patient["meta"]


def test_the_patient_is_pseudonymous() -> None:
    events = example_events()
    (referral,) = [e for e in events if isinstance(e, PatientReferred)]
    exported = bundle(folded(events))
    (patient,) = resources(exported, "Patient")
    text = json.dumps(exported)

    assert patient["identifier"] == [
        {"system": codes.PATIENT_ID_SYSTEM, "value": referral.patient_id}
    ]
    assert not {"name", "birthDate", "telecom", "address"} & set(patient)
    identity = SYNTHETIC_IDENTITY
    for value in (identity.given_name, identity.family_name, identity.date_of_birth.isoformat()):
        assert value not in text


def test_the_checked_in_example_bundle_is_current_and_valid() -> None:
    checked_in = GENERATED / "fhir" / "example-bundle.json"
    assert checked_in.read_text() == example_fhir_bundle(), "run `make docs`"
    Bundle.model_validate_json(checked_in.read_text())
