"""How each event type changes a journey: `evolve(event, journey)`, one function per contract.

Each function adds one event's facts to the journey it is given; the phase is derived
afterwards from all of them (`domain.phase_of`), so nothing here depends on which event
happens to come last. Events without a registered function only appear on the timeline.

The module is a little over the 300 lines the style guide aims for, on purpose: a fifth of it
imports the contracts it dispatches on, and splitting the registrations by producing service
would spread how one journey is told over four files.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch

from pydantic import TypeAdapter

from contracts import EventBase
from contracts.coaching import (
    CoachAssigned,
    FollowUpTaskCompleted,
    FollowUpTaskCreated,
    FollowUpTaskOverdue,
    IntegrationSessionRecorded,
    OutcomeMeasured,
    RelapseSuspected,
    RemissionAchieved,
    ResponseAchieved,
)
from contracts.intake import (
    ContraindicationFound,
    ContraindicationOverridden,
    EligibilityDecided,
    MedicationInteractionFlagged,
    RiskFlagAcknowledged,
    RiskFlagEscalated,
    RiskFlagRaised,
    ScreeningScored,
)
from contracts.scheduling import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    BoosterProposed,
    CourseBlocked,
    CourseExtended,
    CourseScheduled,
    FrequencyChangeProposed,
    ProposalDecided,
)
from contracts.session import (
    AdverseEventReported,
    DoseAdministered,
    DoseHeld,
    DoseHoldOverridden,
    MonitoringCheckOverdue,
    MonitoringFormDue,
    MonitoringFormOverdue,
    MonitoringFormSubmitted,
    PatientCheckedIn,
    SessionDischarged,
    UnsafeDoseDetected,
    VitalsRecorded,
)
from services.journey.models import Appointment, Journey, Task

_INSTANT = TypeAdapter(datetime)


def _wire(value: datetime) -> str:
    """An instant as the events carry it on the wire (`2026-03-02T14:00:00Z`)."""
    return str(_INSTANT.dump_python(value, mode="json"))


@singledispatch
def evolve(event: EventBase, journey: Journey) -> None:
    """Events the projection only lists on the timeline change nothing else."""


def projects(event_type: type[EventBase]) -> bool:
    """Whether `evolve` has a function of its own for this contract type."""
    return evolve.dispatch(event_type) is not evolve.dispatch(EventBase)


@evolve.register
def _screened(e: ScreeningScored, j: Journey) -> None:
    j.screened = True
    j.phq9.append({"at": e.occurred_at.isoformat(), "total": e.phq9_total, "source": "screening"})


@evolve.register
def _decided(e: EligibilityDecided, j: Journey) -> None:
    j.decision = e.decision.value
    j.protocol = e.protocol.value if e.protocol else j.protocol
    j.doses_planned = e.planned_doses or j.doses_planned
    j.coverage_pathway = e.coverage_pathway.value if e.coverage_pathway else None


@evolve.register
def _course(e: CourseScheduled, j: Journey) -> None:
    j.protocol, j.doses_planned = e.protocol.value, e.planned_doses


@evolve.register
def _extended(e: CourseExtended, j: Journey) -> None:
    """Only a prescriber extends a course; a completed course is active again."""
    j.doses_planned = e.planned_doses


@evolve.register
def _unsafe_dose(e: UnsafeDoseDetected, j: Journey) -> None:
    """DESIGN safety invariants: a dose that slipped through the window between services is
    shown, never hidden, until the prescriber's review acknowledges its flag."""
    j.unsafe_doses[e.session_id] = e.rule


@evolve.register
def _booked(e: AppointmentBooked, j: Journey) -> None:
    j.appointments[e.appointment_id] = Appointment(
        appointment_id=e.appointment_id,
        kind=e.kind.value,
        starts_at=e.starts_at,
        dose_number=e.dose_number,
    )


def _set_status(j: Journey, appointment_id: str, status: str) -> None:
    appointment = j.appointments.get(appointment_id)
    if appointment is not None:
        appointment.status = status


@evolve.register
def _cancelled(e: AppointmentCancelled, j: Journey) -> None:
    _set_status(j, e.appointment_id, "cancelled")


@evolve.register
def _no_show(e: AppointmentNoShow, j: Journey) -> None:
    _set_status(j, e.appointment_id, "no_show")
    j.no_shows += 1


@evolve.register
def _checked_in(e: PatientCheckedIn, j: Journey) -> None:
    _set_status(j, e.appointment_id, "attended")


@evolve.register
def _rescheduled(e: AppointmentRescheduled, j: Journey) -> None:
    appointment = j.appointments.get(e.appointment_id)
    if appointment is not None:
        appointment.starts_at = e.starts_at


@evolve.register
def _held(_e: DoseHeld, j: Journey) -> None:
    j.doses_held += 1


@evolve.register
def _hold_overridden(_e: DoseHoldOverridden, j: Journey) -> None:
    j.hold_overrides += 1


@evolve.register
def _dosed(e: DoseAdministered, j: Journey) -> None:
    j.doses_given += 1
    j.protocol = e.protocol.value


@evolve.register
def _discharged(e: SessionDischarged, j: Journey) -> None:
    j.discharges += 1
    j.course_phase = e.course_phase.value


@evolve.register
def _flag_raised(e: RiskFlagRaised, j: Journey) -> None:
    if str(e.flag_id) not in j.open_risk_flags:
        j.open_risk_flags.append(str(e.flag_id))


@evolve.register
def _flag_acknowledged(e: RiskFlagAcknowledged, j: Journey) -> None:
    for flags in (j.open_risk_flags, j.escalated_risk_flags):
        if str(e.flag_id) in flags:
            flags.remove(str(e.flag_id))


@evolve.register
def _flag_escalated(e: RiskFlagEscalated, j: Journey) -> None:
    flag = str(e.flag_id)
    if flag in j.open_risk_flags and flag not in j.escalated_risk_flags:
        j.escalated_risk_flags.append(flag)


@evolve.register
def _form_due(e: MonitoringFormDue, j: Journey) -> None:
    j.forms_due.setdefault(e.session_id, False)
    j.monitoring_forms_due = len(j.forms_due)


@evolve.register
def _form_submitted(e: MonitoringFormSubmitted, j: Journey) -> None:
    j.forms_due.pop(e.session_id, None)
    j.monitoring_forms_due = len(j.forms_due)


@evolve.register
def _form_overdue(e: MonitoringFormOverdue, j: Journey) -> None:
    if e.session_id in j.forms_due:
        j.forms_due[e.session_id] = True


@evolve.register
def _check_overdue(e: MonitoringCheckOverdue, j: Journey) -> None:
    j.monitoring_alerts[f"{e.session_id}:{e.check}"] = _wire(e.due_at)


@evolve.register
def _vitals(e: VitalsRecorded, j: Journey) -> None:
    """A post-dose reading answers that session's overdue blood-pressure check."""
    if e.minutes_since_dose is not None:
        j.monitoring_alerts.pop(f"{e.session_id}:bp_40min", None)


@evolve.register
def _adverse_event(e: AdverseEventReported, j: Journey) -> None:
    j.serious_adverse_events += bool(e.serious)


@evolve.register
def _contraindication_found(e: ContraindicationFound, j: Journey) -> None:
    found = e.contraindication.value
    if e.blocking and found not in j.blocking_contraindications:
        j.blocking_contraindications.append(found)


@evolve.register
def _contraindication_overridden(e: ContraindicationOverridden, j: Journey) -> None:
    if e.contraindication.value in j.blocking_contraindications:
        j.blocking_contraindications.remove(e.contraindication.value)


@evolve.register
def _task_created(e: FollowUpTaskCreated, j: Journey) -> None:
    j.open_tasks[e.task_id] = Task(
        task_id=e.task_id, kind=e.kind.value, coach_id=e.coach_id, due_at=e.due_at
    )


@evolve.register
def _task_completed(e: FollowUpTaskCompleted, j: Journey) -> None:
    j.open_tasks.pop(e.task_id, None)


@evolve.register
def _task_overdue(e: FollowUpTaskOverdue, j: Journey) -> None:
    task = j.open_tasks.get(e.task_id)
    if task is not None:
        task.overdue = True
        task.escalated = task.escalated or e.escalated_to_site_lead


@evolve.register
def _coach_assigned(e: CoachAssigned, j: Journey) -> None:
    """A (re)assignment moves the listed open tasks to the new coach."""
    j.coach_id = e.coach_id
    for task_id in e.task_ids:
        if task_id in j.open_tasks:
            j.open_tasks[task_id].coach_id = e.coach_id


@evolve.register
def _booster(e: BoosterProposed, j: Journey) -> None:
    j.pending_proposals[e.proposal_id] = "booster"


@evolve.register
def _frequency_change(e: FrequencyChangeProposed, j: Journey) -> None:
    j.pending_proposals[e.proposal_id] = "frequency_change"


@evolve.register
def _proposal_decided(e: ProposalDecided, j: Journey) -> None:
    j.pending_proposals.pop(e.proposal_id, None)


@evolve.register
def _integration_session(e: IntegrationSessionRecorded, j: Journey) -> None:
    j.integration_sessions[e.status] = j.integration_sessions.get(e.status, 0) + 1


@evolve.register
def _response(_e: ResponseAchieved, j: Journey) -> None:
    j.outcome = "response"


@evolve.register
def _remission(_e: RemissionAchieved, j: Journey) -> None:
    j.outcome = "remission"


@evolve.register
def _relapse(_e: RelapseSuspected, j: Journey) -> None:
    j.outcome = "relapse_suspected"


@evolve.register
def _outcome(e: OutcomeMeasured, j: Journey) -> None:
    j.phq9.append({"at": e.occurred_at.isoformat(), "total": e.total, "source": "follow_up"})


@evolve.register
def _interaction(e: MedicationInteractionFlagged, j: Journey) -> None:
    if e.interaction.value not in j.interactions:
        j.interactions.append(e.interaction.value)


@evolve.register
def _blocked(e: CourseBlocked, j: Journey) -> None:
    j.course_blocked = e.reason
