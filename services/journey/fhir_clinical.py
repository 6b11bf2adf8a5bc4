"""The clinical resources of a FHIR export: the Patient, the provisional Condition, PHQ-9 and
GAD-7 responses and scores, blood pressures, doses and adverse events."""

from __future__ import annotations

from typing import Any

from services.journey import fhir_codes as codes
from services.journey.fhir_export import Export, Resource, instant, ref, staff
from services.journey.models import Entry


def patient(x: Export, identity: dict[str, Any] | None) -> Resource:
    """Pseudonymous (labelled so) unless intake handed this caller the patient's identity."""
    patient: Resource = {
        "resourceType": "Patient",
        "id": x.id_of("Patient"),
        "meta": {"security": [codes.PSEUDONYMIZED]},
        "identifier": [{"system": codes.PATIENT_ID_SYSTEM, "value": x.journey.patient_id}],
        "active": True,
    }
    if identity is None:
        return patient
    if identity.get("erased"):
        patient["name"] = [{"text": "erased"}]
        return patient
    del patient["meta"]
    patient["name"] = [{"family": identity["family_name"], "given": [identity["given_name"]]}]
    patient["birthDate"] = identity["date_of_birth"]
    telecom = [
        {"system": system, "value": identity[key]}
        for system, key in (("phone", "phone"), ("email", "email"))
        if identity.get(key)
    ]
    if telecom:
        patient["telecom"] = telecom
    return patient


def condition(x: Export, subject: dict[str, str]) -> Resource | None:
    """Depression from the latest screening; treatment-resistant when the payer assessment says
    so or, without one, at >= 2 adequate failed trials (DESIGN: TRD coverage default).
    Provisional: a screening, not a charted diagnosis."""
    screening = x.latest("ScreeningScored")
    if screening is None:
        return None
    coverage = x.latest("CoverageAssessed")
    resistant = (
        coverage.facts["treatment_resistant"]
        if coverage
        else screening.facts["adequate_failed_trials"] >= 2
    )
    code = codes.TREATMENT_RESISTANT_DEPRESSION if resistant else codes.MAJOR_DEPRESSIVE_DISORDER
    condition = {
        "resourceType": "Condition",
        "id": x.id_of("Condition", "depression"),
        "clinicalStatus": codes.ACTIVE,
        "verificationStatus": codes.PROVISIONAL,
        "code": codes.concept(code, text=code["display"]),
        "subject": subject,
        "recordedDate": instant(screening.occurred_at),
        "evidence": [{"detail": [{"reference": f"urn:uuid:{_measure_id(x, screening, 'phq9')}"}]}],
    }
    return x.add(condition, *(e for e in (screening, coverage) if e))


def _measure_id(x: Export, entry: Entry, instrument: str) -> str:
    return x.id_of("Observation", entry.event_id, instrument)


def measures(x: Export, subject: dict[str, str]) -> None:
    """A QuestionnaireResponse and its total-score Observation per PHQ-9 / GAD-7 taken."""
    for e in x.by_type["ScreeningScored"]:
        f = e.facts
        _measure(x, subject, e, "phq9", f["phq9_total"], f["phq9_item9"], f["phq9_band"])
        _measure(x, subject, e, "gad7", f["gad7_total"], None, f["gad7_band"])
    for e in x.by_type["OutcomeMeasured"]:
        _measure(x, subject, e, "phq9", e.facts["total"], e.facts["item9"], None)


def _measure(
    x: Export, subject: dict[str, str], e: Entry, instrument: str, total: int,
    item9: int | None, band: str | None,
) -> None:  # fmt: skip
    canonical, panel, total_code = codes.QUESTIONNAIRES[instrument]
    answers = [(total_code, total), *([(codes.PHQ9_ITEM9, item9)] if item9 is not None else [])]
    response = x.add({
        "resourceType": "QuestionnaireResponse",
        "id": x.id_of("QuestionnaireResponse", e.event_id, instrument),
        "questionnaire": canonical,
        "status": "completed",
        "subject": subject,
        "authored": instant(e.occurred_at),
        "item": [{"linkId": c["code"], "text": c["display"], "answer": [{"valueInteger": v}]}
                 for c, v in answers],
    }, e)  # fmt: skip
    observation: Resource = {
        "resourceType": "Observation",
        "id": _measure_id(x, e, instrument),
        "status": "final",
        "category": [codes.SURVEY],
        "code": codes.concept(total_code, text=f"{panel['display']}: total score"),
        "subject": subject,
        "effectiveDateTime": instant(e.occurred_at),
        "valueInteger": total,
        "derivedFrom": [ref(response)],
    }
    if band:
        observation["interpretation"] = [{"text": band.replace("_", " ")}]
    x.add(observation, e)


def vitals(x: Export, subject: dict[str, str], doses: dict[str, Resource]) -> None:
    """Each charted blood pressure; a post-dose reading is part of that session's dose."""
    for e in x.by_type["VitalsRecorded"]:
        f = e.facts
        minutes = f.get("minutes_since_dose")
        observation: Resource = {
            "resourceType": "Observation",
            "id": x.id_of("Observation", e.event_id, "bp"),
            "status": "final",
            "category": [codes.VITAL_SIGNS],
            "code": codes.concept(codes.BP_PANEL, text="Blood pressure"),
            "subject": subject,
            "effectiveDateTime": instant(e.occurred_at),
            "component": [
                {"code": codes.concept(c), "valueQuantity": _mmhg(f[name])}
                for c, name in ((codes.SYSTOLIC, "systolic"), (codes.DIASTOLIC, "diastolic"))
            ],
            "note": [{"text": "pre-dose" if minutes is None else f"{minutes} min after dose"}],
        }
        if minutes is not None and f["session_id"] in doses:
            observation["partOf"] = [ref(doses[f["session_id"]])]
        x.add(observation, e)


def _mmhg(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": codes.UCUM, "code": "mm[Hg]"}


def doses(x: Export, subject: dict[str, str], condition: Resource | None) -> dict[str, Resource]:
    """A MedicationAdministration per dose (by session id), its lot on a Medication resource
    (R4B keeps the lot there); the route is the approved modality, else the protocol's."""
    decided = x.latest("EligibilityDecided")
    modality = decided.facts.get("modality") if decided else None
    given: dict[str, Resource] = {}
    for e in x.by_type["DoseAdministered"]:
        f = e.facts
        medicine, default_route = codes.MEDICINES[f["protocol"]]
        medication = x.add({
            "resourceType": "Medication",
            "id": x.id_of("Medication", f["protocol"], f["lot_number"]),
            "code": codes.concept(medicine, text=medicine["display"]),
            "batch": {"lotNumber": f["lot_number"]},
        }, e)  # fmt: skip
        detail = [f"dose {f['dose_number']}"]
        detail += [f"{f['devices']} device(s)"] if f.get("devices") else []
        detail += [f"over {f['infusion_minutes']} min"] if f.get("infusion_minutes") else []
        administration: Resource = {
            "resourceType": "MedicationAdministration",
            "id": x.id_of("MedicationAdministration", e.event_id),
            "identifier": [{"system": "urn:kap:session-id", "value": f["session_id"]}],
            "status": "completed",
            "medicationReference": ref(medication),
            "subject": subject,
            "effectiveDateTime": instant(e.occurred_at),
            "performer": [{"actor": staff(f["administered_by"])}],
            "dosage": {
                "text": ", ".join(detail),
                "route": codes.concept(codes.ROUTES[modality or default_route]),
                "dose": {"value": f["dose_mg"], "unit": "mg", "system": codes.UCUM, "code": "mg"},
            },
        }
        if condition:
            administration["reasonReference"] = [ref(condition)]
        given[f["session_id"]] = x.add(administration, e)
    return given


def adverse_events(x: Export, subject: dict[str, str], doses: dict[str, Resource]) -> None:
    for e in x.by_type["AdverseEventReported"]:
        f = e.facts
        event: Resource = {
            "resourceType": "AdverseEvent",
            "id": x.id_of("AdverseEvent", e.event_id),
            "actuality": "actual",
            "event": {"text": f["kind"].replace("_", " ")},
            "subject": subject,
            "date": instant(e.occurred_at),
            "recordedDate": instant(e.occurred_at),
            "seriousness": codes.SERIOUS if f["serious"] else codes.NON_SERIOUS,
            "severity": codes.AE_SEVERITY[f["severity"]],
        }
        if f["session_id"] in doses:
            event["suspectEntity"] = [{"instance": ref(doses[f["session_id"]])}]
        x.add(event, e)
