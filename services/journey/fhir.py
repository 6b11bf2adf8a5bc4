"""A patient's journey as a FHIR R4B `collection` Bundle, built only from the journey's timeline.

Pure: no clock, no ids drawn at random. Every resource id is a UUIDv5 of the patient and the
event (or course, appointment, task, flag) it comes from, and every reference is the target's
`urn:uuid:` fullUrl, so repeated exports are identical and a receiver can merge them. Each
resource's `meta.lastUpdated` is the time of the latest event that shaped it; `since` keeps only
resources changed after it (plus the Patient, the subject of all of them). The journey holds no
identity (DESIGN), so the Patient is pseudonymous: its one identifier is the platform's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.journey import fhir_care as care
from services.journey import fhir_clinical as clinical
from services.journey.fhir_export import Export, Resource, instant, ref
from services.journey.models import Journey

ORDER = (
    "Patient", "Condition", "CarePlan", "QuestionnaireResponse", "Observation", "Medication",
    "MedicationAdministration", "AdverseEvent", "Appointment", "Task", "Flag",
)  # fmt: skip


def bundle(
    journey: Journey, since: datetime | None = None, identity: dict[str, Any] | None = None
) -> Resource:
    """The journey as a Bundle; with `since`, only what changed after it (and the Patient).
    The Patient is pseudonymous unless intake gave `identity` to this caller."""
    x = Export(journey)
    patient = x.add(clinical.patient(x, identity), *journey.timeline[:1])
    subject = ref(patient)
    condition = clinical.condition(x, subject)
    doses = clinical.doses(x, subject, condition)
    clinical.measures(x, subject)
    clinical.vitals(x, subject, doses)
    clinical.adverse_events(x, subject, doses)
    appointments = care.appointments(x, subject)
    plans = care.care_plans(x, subject, condition, appointments)
    care.tasks(x, subject, plans, doses)
    care.flags(x, subject)
    kept = [
        r for r in x.resources.values()
        if since is None or r is patient or x.updated[r["id"]] > since
    ]  # fmt: skip
    kept.sort(key=lambda r: (ORDER.index(r["resourceType"]), x.updated[r["id"]], r["id"]))
    last = max(e.occurred_at for e in journey.timeline)
    return {
        "resourceType": "Bundle",
        "id": x.id_of("bundle", instant(since) if since else "all"),
        "meta": {"lastUpdated": instant(last)},
        "type": "collection",
        "timestamp": instant(last),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in kept],
    }
