"""The care-coordination resources of a FHIR export: Appointments, a CarePlan per course, the
coaches' follow-up Tasks and open risk Flags."""

from __future__ import annotations

from collections import defaultdict

from services.journey import fhir_codes as codes
from services.journey.fhir_export import Export, Resource, instant, ref, staff
from services.journey.models import Entry

TIMES_APPOINTMENTS = ("AppointmentBooked", "AppointmentRescheduled")
SHAPES_APPOINTMENTS = frozenset(
    {*TIMES_APPOINTMENTS, "AppointmentCancelled", "AppointmentNoShow", "PatientCheckedIn",
     "SessionDischarged"}
)  # fmt: skip
APPOINTMENT_STATUS = {"booked": "booked", "cancelled": "cancelled", "no_show": "noshow"}


def appointments(x: Export, subject: dict[str, str]) -> dict[str, tuple[Resource, str | None]]:
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


def care_plans(
    x: Export,
    subject: dict[str, str],
    condition: Resource | None,
    appointments: dict[str, tuple[Resource, str | None]],
) -> dict[str, Resource]:
    """A CarePlan per scheduled course, listing its appointments; the latest course also
    carries the follow-up tasks (added by `tasks`)."""
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


def tasks(
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
            "owner": staff(coach),
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


def flags(x: Export, subject: dict[str, str]) -> None:
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
