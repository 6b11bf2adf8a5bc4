"""How each event type changes a journey: the projection's routing table.

Each function adds one event's facts; the phase is derived afterwards from all of them
(`domain.phase_of`), so nothing here depends on which event happens to come last.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.journey.models import Appointment, Entry, Journey, Task


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _screened(j: Journey, e: Entry) -> None:
    j.screened = True
    j.phq9.append(
        {"at": e.occurred_at.isoformat(), "total": e.facts["phq9_total"], "source": "screening"}
    )


def _decided(j: Journey, e: Entry) -> None:
    decision = e.facts["decision"]
    j.decision = decision
    j.protocol = e.facts.get("protocol") or j.protocol
    j.doses_planned = e.facts.get("planned_doses") or j.doses_planned
    j.coverage_pathway = e.facts.get("coverage_pathway")


def _course(j: Journey, e: Entry) -> None:
    j.protocol, j.doses_planned = e.facts["protocol"], e.facts["planned_doses"]


def _extended(j: Journey, e: Entry) -> None:
    """Only a prescriber extends a course; a completed course is active again."""
    j.doses_planned = e.facts["planned_doses"]


def _unsafe_dose(j: Journey, e: Entry) -> None:
    """DESIGN safety invariants: a dose that slipped through the window between services is
    shown, never hidden, until the prescriber's review acknowledges its flag."""
    j.unsafe_doses[e.facts["session_id"]] = e.facts["rule"]


def _booked(j: Journey, e: Entry) -> None:
    f = e.facts
    j.appointments[f["appointment_id"]] = Appointment(
        appointment_id=f["appointment_id"],
        kind=f["kind"],
        starts_at=_at(f["starts_at"]),
        dose_number=f.get("dose_number"),
    )


def _appointment_status(status: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, e: Entry) -> None:
        appointment = j.appointments.get(e.facts["appointment_id"])
        if appointment is not None:
            appointment.status = status
        if status == "no_show":
            j.no_shows += 1

    return apply


def _rescheduled(j: Journey, e: Entry) -> None:
    appointment = j.appointments.get(e.facts["appointment_id"])
    if appointment is not None:
        appointment.starts_at = _at(e.facts["starts_at"])


def _dosed(j: Journey, e: Entry) -> None:
    j.doses_given += 1
    j.protocol = e.facts["protocol"]


def _discharged(j: Journey, e: Entry) -> None:
    j.discharges += 1
    j.course_phase = e.facts["course_phase"]


def _flag_raised(j: Journey, e: Entry) -> None:
    if e.facts["flag_id"] not in j.open_risk_flags:
        j.open_risk_flags.append(e.facts["flag_id"])


def _flag_acknowledged(j: Journey, e: Entry) -> None:
    for flags in (j.open_risk_flags, j.escalated_risk_flags):
        if e.facts["flag_id"] in flags:
            flags.remove(e.facts["flag_id"])


def _flag_escalated(j: Journey, e: Entry) -> None:
    flag = e.facts["flag_id"]
    if flag in j.open_risk_flags and flag not in j.escalated_risk_flags:
        j.escalated_risk_flags.append(flag)


def _form_due(j: Journey, e: Entry) -> None:
    j.forms_due.setdefault(e.facts["session_id"], False)
    j.monitoring_forms_due = len(j.forms_due)


def _form_submitted(j: Journey, e: Entry) -> None:
    j.forms_due.pop(e.facts["session_id"], None)
    j.monitoring_forms_due = len(j.forms_due)


def _form_overdue(j: Journey, e: Entry) -> None:
    if e.facts["session_id"] in j.forms_due:
        j.forms_due[e.facts["session_id"]] = True


def _check_overdue(j: Journey, e: Entry) -> None:
    j.monitoring_alerts[f"{e.facts['session_id']}:{e.facts['check']}"] = e.facts["due_at"]


def _vitals(j: Journey, e: Entry) -> None:
    """A post-dose reading answers that session's overdue blood-pressure check."""
    if e.facts.get("minutes_since_dose") is not None:
        j.monitoring_alerts.pop(f"{e.facts['session_id']}:bp_40min", None)


def _adverse_event(j: Journey, e: Entry) -> None:
    j.serious_adverse_events += bool(e.facts["serious"])


def _contraindication_found(j: Journey, e: Entry) -> None:
    found = e.facts["contraindication"]
    if e.facts["blocking"] and found not in j.blocking_contraindications:
        j.blocking_contraindications.append(found)


def _contraindication_overridden(j: Journey, e: Entry) -> None:
    if e.facts["contraindication"] in j.blocking_contraindications:
        j.blocking_contraindications.remove(e.facts["contraindication"])


def _task_created(j: Journey, e: Entry) -> None:
    f = e.facts
    j.open_tasks[f["task_id"]] = Task(
        task_id=f["task_id"], kind=f["kind"], coach_id=f["coach_id"], due_at=_at(f["due_at"])
    )


def _task_completed(j: Journey, e: Entry) -> None:
    j.open_tasks.pop(e.facts["task_id"], None)


def _task_overdue(j: Journey, e: Entry) -> None:
    task = j.open_tasks.get(e.facts["task_id"])
    if task is not None:
        task.overdue = True
        task.escalated = task.escalated or bool(e.facts.get("escalated_to_site_lead"))


def _coach_assigned(j: Journey, e: Entry) -> None:
    """A (re)assignment moves the listed open tasks to the new coach."""
    j.coach_id = e.facts["coach_id"]
    for task_id in e.facts.get("task_ids") or ():
        if task_id in j.open_tasks:
            j.open_tasks[task_id].coach_id = e.facts["coach_id"]


def _proposed(kind: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, e: Entry) -> None:
        j.pending_proposals[e.facts["proposal_id"]] = kind

    return apply


def _proposal_decided(j: Journey, e: Entry) -> None:
    j.pending_proposals.pop(e.facts["proposal_id"], None)


def _integration_session(j: Journey, e: Entry) -> None:
    status = e.facts["status"]
    j.integration_sessions[status] = j.integration_sessions.get(status, 0) + 1


def _outcome_is(outcome: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, _e: Entry) -> None:
        j.outcome = outcome

    return apply


def _outcome(j: Journey, e: Entry) -> None:
    j.phq9.append(
        {"at": e.occurred_at.isoformat(), "total": e.facts["total"], "source": "follow_up"}
    )


def _interaction(j: Journey, e: Entry) -> None:
    if e.facts["interaction"] not in j.interactions:
        j.interactions.append(e.facts["interaction"])


def _counter(field: str) -> Callable[[Journey, Entry], None]:
    def apply(j: Journey, _e: Entry) -> None:
        setattr(j, field, getattr(j, field) + 1)

    return apply


EVOLVE: dict[str, Callable[[Journey, Entry], None]] = {
    "ScreeningScored": _screened,
    "RiskFlagRaised": _flag_raised,
    "RiskFlagAcknowledged": _flag_acknowledged,
    "MedicationInteractionFlagged": _interaction,
    "EligibilityDecided": _decided,
    "CourseScheduled": _course,
    "CourseExtended": _extended,
    "UnsafeDoseDetected": _unsafe_dose,
    "AppointmentBooked": _booked,
    "AppointmentRescheduled": _rescheduled,
    "AppointmentCancelled": _appointment_status("cancelled"),
    "AppointmentNoShow": _appointment_status("no_show"),
    "PatientCheckedIn": _appointment_status("attended"),
    "DoseHeld": _counter("doses_held"),
    "DoseAdministered": _dosed,
    "SessionDischarged": _discharged,
    "VitalsRecorded": _vitals,
    "MonitoringFormDue": _form_due,
    "MonitoringFormSubmitted": _form_submitted,
    "MonitoringFormOverdue": _form_overdue,
    "MonitoringCheckOverdue": _check_overdue,
    "AdverseEventReported": _adverse_event,
    "DoseHoldOverridden": _counter("hold_overrides"),
    "RiskFlagEscalated": _flag_escalated,
    "ContraindicationFound": _contraindication_found,
    "ContraindicationOverridden": _contraindication_overridden,
    "CoachAssigned": _coach_assigned,
    "FollowUpTaskCreated": _task_created,
    "FollowUpTaskCompleted": _task_completed,
    "FollowUpTaskOverdue": _task_overdue,
    "OutcomeMeasured": _outcome,
    "ResponseAchieved": _outcome_is("response"),
    "RemissionAchieved": _outcome_is("remission"),
    "RelapseSuspected": _outcome_is("relapse_suspected"),
    "IntegrationSessionRecorded": _integration_session,
    "CourseBlocked": lambda j, e: setattr(j, "course_blocked", e.facts["reason"]),
    "BoosterProposed": _proposed("booster"),
    "FrequencyChangeProposed": _proposed("frequency_change"),
    "ProposalDecided": _proposal_decided,
}
"""The routing table of the projection: event type -> how it changes the journey.
Events not listed still appear on the timeline."""
