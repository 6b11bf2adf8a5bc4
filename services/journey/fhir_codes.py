"""Every code the FHIR export uses, in one place, each with where it comes from.

Sources and how sure we are (the next engineer should re-check anything marked *unverified*
against the terminology server of record before a payer or registry relies on it):

- LOINC (https://loinc.org): PHQ-9 panel 44249-1 and total 44261-6, GAD-7 panel 69737-5 and
  total 70274-6, blood-pressure panel 85354-9 with systolic 8480-6 and diastolic 8462-4 (the
  FHIR R4B vital-signs profile uses exactly these three). PHQ-9 item 9 44260-8 "Thoughts that you
  would be better off dead, or of hurting yourself in some way in last 2 weeks [Reported.PHQ]"
  (listed among the terms of LOINC answer list LL358-3, https://loinc.org/LL358-3).
- SNOMED CT (https://browser.ihtsdotools.org): 370143000 "Major depressive disorder
  (disorder)"; 1153570009 "Treatment resistant depression (disorder)". 1153575004, which was
  proposed for TRD, is "Persistent depressive disorder" in two independent public code lists
  (an OMOP mapping table and a depression value set), so it is deliberately *not* used.
  Neither code was checked against a SNOMED release here.
- SNOMED CT route codes, as listed in FHIR's `route-codes` value set
  (http://hl7.org/fhir/R4/valueset-route-codes.html): 46713006 nasal route, 47625008
  intravenous route, 78421000 intramuscular route, 37839007 sublingual route.
- RxNorm (https://www.nlm.nih.gov/research/umls/rxnorm): 2201623 "esketamine Nasal Spray"
  (SCDF; listed on ndclist.com's RxNorm page for RxCUI 2201623, RxNorm release of 2026-05);
  6130 "ketamine" (ingredient, IN) — *unverified* here (from memory; RxNav was not reachable).
- HL7 terminology (https://terminology.hl7.org): condition-clinical, condition-ver-status,
  observation-category, flag-category, adverse-event-seriousness, adverse-event-severity and
  v3-ObservationValue PSEUDED (the "pseudonymized" security label on the Patient).
- UCUM (https://ucum.org): mg, mm[Hg], {score}.
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
HL7 = "http://terminology.hl7.org/CodeSystem/"
PATIENT_ID_SYSTEM = "urn:kap:patient-id"
"""The platform's pseudonymous patient id: the only identifier the journey holds."""
STAFF_ID_SYSTEM = "urn:kap:staff-id"

Coding = dict[str, str]


def coding(system: str, code: str, display: str) -> Coding:
    return {"system": system, "code": code, "display": display}


def concept(*codings: Coding, text: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"coding": list(codings)}
    if text:
        shown["text"] = text
    return shown


def hl7(code_system: str, code: str, display: str) -> dict[str, Any]:
    return concept(coding(HL7 + code_system, code, display))


# --- LOINC: questionnaires and vital signs ----------------------------------------------------
PHQ9_PANEL = coding(LOINC, "44249-1", "PHQ-9 quick depression assessment panel")
PHQ9_TOTAL = coding(LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score")
PHQ9_ITEM9 = coding(
    LOINC, "44260-8", "Thoughts that you would be better off dead, or of hurting yourself"
)
GAD7_PANEL = coding(LOINC, "69737-5", "Generalized anxiety disorder 7 item (GAD-7)")
GAD7_TOTAL = coding(LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score")
BP_PANEL = coding(LOINC, "85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = coding(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC = coding(LOINC, "8462-4", "Diastolic blood pressure")

QUESTIONNAIRES = {
    "phq9": ("http://loinc.org/q/44249-1", PHQ9_PANEL, PHQ9_TOTAL),
    "gad7": ("http://loinc.org/q/69737-5", GAD7_PANEL, GAD7_TOTAL),
}
"""Instrument -> (the LOINC questionnaire's canonical URL, panel code, total-score code)."""

SURVEY = hl7("observation-category", "survey", "Survey")
VITAL_SIGNS = hl7("observation-category", "vital-signs", "Vital Signs")

# --- SNOMED CT: conditions and routes ---------------------------------------------------------
MAJOR_DEPRESSIVE_DISORDER = coding(SNOMED, "370143000", "Major depressive disorder")
TREATMENT_RESISTANT_DEPRESSION = coding(SNOMED, "1153570009", "Treatment resistant depression")

ROUTES = {
    "intranasal": coding(SNOMED, "46713006", "Nasal route"),
    "intravenous": coding(SNOMED, "47625008", "Intravenous route"),
    "intramuscular": coding(SNOMED, "78421000", "Intramuscular route"),
    "sublingual": coding(SNOMED, "37839007", "Sublingual route"),
}
"""Modality (contracts.vocabulary.Modality) -> SNOMED CT route of administration."""

# --- RxNorm: the medicines of each protocol ---------------------------------------------------
ESKETAMINE_NASAL_SPRAY = coding(RXNORM, "2201623", "esketamine Nasal Spray")
KETAMINE = coding(RXNORM, "6130", "ketamine")

MEDICINES = {
    "esketamine_trd": (ESKETAMINE_NASAL_SPRAY, "intranasal"),
    "iv_ketamine_series": (KETAMINE, "intravenous"),
    "im_ketamine": (KETAMINE, "intramuscular"),
    "sublingual_lozenge": (KETAMINE, "sublingual"),
    "low_dose_kap": (KETAMINE, "sublingual"),
}
"""Protocol -> (RxNorm code of what is given, default modality when eligibility named none).
Low-dose KAP defaults to the sublingual lozenge; the approved modality, when recorded, wins."""

# --- HL7 value sets -----------------------------------------------------------------------
ACTIVE = hl7("condition-clinical", "active", "Active")
PROVISIONAL = hl7("condition-ver-status", "provisional", "Provisional")
SAFETY_FLAG = hl7("flag-category", "safety", "Safety")
SERIOUS = hl7("adverse-event-seriousness", "serious", "Serious")
NON_SERIOUS = hl7("adverse-event-seriousness", "non-serious", "Non-serious")
AE_SEVERITY = {
    level: hl7("adverse-event-severity", level, level.capitalize())
    for level in ("mild", "moderate", "severe")
}
PSEUDONYMIZED = coding(HL7 + "v3-ObservationValue", "PSEUDED", "pseudonymized")

RISK_FLAGS = {
    "phq9_item9": "PHQ-9 item 9 above zero: thoughts of death or self-harm",
    "cssrs_high": "C-SSRS screen: high suicide risk",
    "serious_adverse_event": "Serious adverse event after a dose",
    "unsafe_dose": "Dose given against a safety rule (prescriber review)",
}
"""Risk flag kind -> the flag's text (these are platform concepts, not standard codes)."""
