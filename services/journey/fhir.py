"""A patient's journey as a FHIR R4B `collection` Bundle, built only from the journey's timeline.

Pure: no clock, no ids drawn at random. Every resource id is a UUIDv5 of the patient and the
event (or course, appointment, task, flag) it comes from, and every reference is the target's
`urn:uuid:` fullUrl, so repeated exports are identical and a receiver can merge them. Each
resource's `meta.lastUpdated` is the time of the latest event that shaped it; `since` keeps only
resources changed after it (plus the Patient, the subject of all of them). The journey holds no
identity (DESIGN), so the Patient is pseudonymous: its one identifier is the platform's id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import stable_id
from services.journey import fhir_codes as codes
from services.journey.models import Entry, Journey

Resource = dict[str, Any]
ORDER = (
    "Patient", "Condition", "CarePlan", "QuestionnaireResponse", "Observation", "Medication",
    "MedicationAdministration", "AdverseEvent", "Appointment", "Task", "Flag",
)  # fmt: skip
TIMES_APPOINTMENTS = ("AppointmentBooked", "AppointmentRescheduled")
SHAPES_APPOINTMENTS = frozenset(
    {*TIMES_APPOINTMENTS, "AppointmentCancelled", "AppointmentNoShow", "PatientCheckedIn",
     "SessionDischarged"}
)  # fmt: skip
APPOINTMENT_STATUS = {"booked": "booked", "cancelled": "cancelled", "no_show": "noshow"}


def instant(at: datetime | str) -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource['id']}"}


@dataclass
class Export:
    """The resources of one journey, keyed by id, each with the events that shaped it."""

    journey: Journey
    resources: dict[str, Resource] = field(default_factory=dict)
    updated: dict[str, datetime] = field(default_factory=dict)
    by_type: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for entry in self.journey.timeline:
            self.by_type[entry.event_type].append(entry)

    def id_of(self, *parts: object) -> str:
        return str(stable_id("fhir", self.journey.patient_id, *parts))

    def add(self, resource: Resource, *shaped_by: Entry) -> Resource:
        at = max(e.occurred_at for e in shaped_by)
        resource["meta"] = {**resource.get("meta", {}), "lastUpdated": instant(at)}
        self.resources[resource["id"]] = resource
        self.updated[resource["id"]] = at
        return resource

    def latest(self, event_type: str) -> Entry | None:
        return self.by_type[event_type][-1] if self.by_type[event_type] else None


def bundle(
    journey: Journey, since: datetime | None = None, identity: dict[str, Any] | None = None
) -> Resource:
    """The journey as a Bundle; with `since`, only what changed after it (and the Patient).
    The Patient is pseudonymous unless intake gave `identity` to this caller."""
    x = Export(journey)
    patient = x.add(_patient(x, identity), *journey.timeline[:1])
    subject = ref(patient)
    condition = _condition(x, subject)
    doses = _doses(x, subject, condition)
    _measures(x, subject)
    _vitals(x, subject, doses)
    _adverse_events(x, subject, doses)
    appointments = _appointments(x, subject)
    plans = _care_plans(x, subject, condition, appointments)
    _tasks(x, subject, plans, doses)
    _flags(x, subject)
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


def _patient(x: Export, identity: dict[str, Any] | None) -> Resource:
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


def _condition(x: Export, subject: dict[str, str]) -> Resource | None:
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


def _measures(x: Export, subject: dict[str, str]) -> None:
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


def _vitals(x: Export, subject: dict[str, str], doses: dict[str, Resource]) -> None:
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


def _doses(x: Export, subject: dict[str, str], condition: Resource | None) -> dict[str, Resource]:
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
            "performer": [{"actor": _staff(f["administered_by"])}],
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


def _staff(staff_id: str) -> dict[str, Any]:
    """A logical reference (by identifier): staff records are not part of a patient export."""
    return {"identifier": {"system": codes.STAFF_ID_SYSTEM, "value": staff_id}}


def _adverse_events(x: Export, subject: dict[str, str], doses: dict[str, Resource]) -> None:
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


def _appointments(x: Export, subject: dict[str, str]) -> dict[str, tuple[Resource, str | None]]:
    """Each appointment as the journey holds it now; -> appointment id: (resource, course)."""
    shaped: dict[str, list[Entry]] = defaultdict(list)
    for e in x.journey.timeline:
        if "appointment_id" in e.facts and e.event_type in SHAPES_APPOINTMENTS:
            shaped[e.facts["appointment_id"]].append(e)
    discharged = {e.facts["appointment_id"] for e in x.by_type["SessionDischarged"]}
    found: dict[str, tuple[Resource, str | None]] = {}
    for appointment_id, held in x.journey.appointments.items():
        events = shaped[appointment_id]
        timed = [e for e in events if e.event_type in TIMES_APPOINTMENTS]
        booked = next(e for e in events if e.event_type == "AppointmentBooked")
        status = APPOINTMENT_STATUS.get(held.status) or (
            "fulfilled" if appointment_id in discharged else "checked-in"
        )
        resource: Resource = {
            "resourceType": "Appointment",
            "id": x.id_of("Appointment", appointment_id),
            "identifier": [{"system": "urn:kap:appointment-id", "value": appointment_id}],
            "status": status,
            "appointmentType": {"text": held.kind},
            "description": f"{held.kind} appointment"
            + (f", dose {held.dose_number}" if held.dose_number else ""),
            "start": instant(held.starts_at),
            "end": instant(timed[-1].facts["ends_at"]),
            "created": instant(booked.occurred_at),
            "participant": [{"actor": subject, "status": "accepted"}],
        }
        cancelled = [e for e in events if e.event_type == "AppointmentCancelled"]
        if cancelled:
            resource["cancelationReason"] = {"text": cancelled[-1].facts["reason"]}
        found[appointment_id] = (x.add(resource, *events), booked.facts.get("course_id"))
    return found


def _care_plans(
    x: Export,
    subject: dict[str, str],
    condition: Resource | None,
    appointments: dict[str, tuple[Resource, str | None]],
) -> dict[str, Resource]:
    """A CarePlan per scheduled course, listing its appointments; the latest course also
    carries the follow-up tasks (added by `_tasks`)."""
    courses: dict[str, list[Entry]] = defaultdict(list)
    for e in x.by_type["CourseScheduled"] + x.by_type["CourseExtended"]:
        courses[e.facts["course_id"]].append(e)
    status = {"completed": "completed", "withdrawn": "revoked", "declined": "revoked"}
    plans: dict[str, Resource] = {}
    for course_id, events in courses.items():
        events.sort(key=lambda e: e.order)
        scheduled = events[0]
        listed = [r for r, course in appointments.values() if course in (course_id, None)]
        plan: Resource = {
            "resourceType": "CarePlan",
            "id": x.id_of("CarePlan", course_id),
            "identifier": [{"system": "urn:kap:course-id", "value": course_id}],
            "status": status.get(x.journey.phase, "active"),
            "intent": "plan",
            "title": f"{scheduled.facts['protocol']} course",
            "description": f"{events[-1].facts['planned_doses']} doses planned, "
            f"{x.journey.doses_given} given",
            "subject": subject,
            "period": {"start": instant(scheduled.occurred_at)},
            "created": instant(scheduled.occurred_at),
            "activity": [{"reference": ref(r)} for r in listed],
        }
        if condition:
            plan["addresses"] = [ref(condition)]
        plans[course_id] = x.add(plan, *events)
    return plans


def _tasks(
    x: Export, subject: dict[str, str], plans: dict[str, Resource], doses: dict[str, Resource]
) -> None:
    """A Task per coach follow-up, owned by the coach who holds it now."""
    completed = {e.facts["task_id"]: e for e in x.by_type["FollowUpTaskCompleted"]}
    overdue = {e.facts["task_id"]: e for e in x.by_type["FollowUpTaskOverdue"]}
    plan = next(reversed(plans.values()), None)
    for e in x.by_type["FollowUpTaskCreated"]:
        f, task_id = e.facts, e.facts["task_id"]
        done, late = completed.get(task_id), overdue.get(task_id)
        held = x.journey.open_tasks.get(task_id)
        coach = held.coach_id if held else (done.facts["coach_id"] if done else f["coach_id"])
        shaped = [e, *(p for p in (done, late) if p)]
        task: Resource = {
            "resourceType": "Task",
            "id": x.id_of("Task", task_id),
            "identifier": [{"system": "urn:kap:task-id", "value": task_id}],
            "status": "completed" if done else "ready",
            "intent": "plan",
            "code": {"text": f["kind"]},
            "for": subject,
            "authoredOn": instant(e.occurred_at),
            "lastModified": instant(max(s.occurred_at for s in shaped)),
            "restriction": {"period": {"end": instant(f["due_at"])}},
            "owner": _staff(coach),
        }
        if late and not done:
            escalated = late.facts.get("escalated_to_site_lead")
            task["businessStatus"] = {"text": "overdue, escalated" if escalated else "overdue"}
        if plan:
            task["basedOn"] = [ref(plan)]
            plan["activity"].append({"reference": ref(task)})
            x.updated[plan["id"]] = max(x.updated[plan["id"]], e.occurred_at)
            plan["meta"]["lastUpdated"] = instant(x.updated[plan["id"]])
        if f.get("session_id") in doses:
            task["focus"] = ref(doses[f["session_id"]])
        x.add(task, *shaped)


def _flags(x: Export, subject: dict[str, str]) -> None:
    """A Flag per risk flag still open (raised, not yet acknowledged by a clinician)."""
    escalated = {e.facts["flag_id"]: e for e in x.by_type["RiskFlagEscalated"]}
    raised = {e.facts["flag_id"]: e for e in x.by_type["RiskFlagRaised"]}
    for flag_id in x.journey.open_risk_flags:
        e = raised.get(flag_id)
        if e is None:
            continue
        text = f"{codes.RISK_FLAGS[e.facts['kind']]} ({e.facts['severity']} risk)"
        x.add({
            "resourceType": "Flag",
            "id": x.id_of("Flag", flag_id),
            "identifier": [{"system": "urn:kap:risk-flag-id", "value": flag_id}],
            "status": "active",
            "category": [codes.SAFETY_FLAG],
            "code": {"text": text},
            "subject": subject,
            "period": {"start": instant(e.occurred_at)},
        }, e, *([escalated[flag_id]] if flag_id in escalated else []))  # fmt: skip
