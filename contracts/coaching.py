"""Events the integration/coaching service produces: coaches, follow-up tasks, outcomes."""

from typing import Annotated, Literal

from pydantic import Field

from contracts.envelope import EntityId, EventBase, UtcDatetime
from contracts.intake import RiskFlagRaised
from contracts.vocabulary import TaskKind

Phq9Total = Annotated[int, Field(ge=0, le=27)]


AssignmentReason = Literal["first_discharge", "coach_absent", "coach_left"]
"""Why a patient got this coach: the first discharge, or their coach became unavailable."""


class CoachAssigned(EventBase):
    """The patient's coach is now `coach_id`. On a reassignment `previous_coach_id` is set and
    `task_ids` lists the open follow-up tasks that moved with the patient to the new coach."""

    event_type: Literal["CoachAssigned"] = "CoachAssigned"
    coach_id: EntityId
    previous_coach_id: EntityId | None = None
    reason: AssignmentReason = "first_discharge"
    task_ids: tuple[EntityId, ...] = ()
    over_capacity: bool = False


class FollowUpTaskCreated(EventBase):
    event_type: Literal["FollowUpTaskCreated"] = "FollowUpTaskCreated"
    task_id: EntityId
    kind: TaskKind
    coach_id: EntityId
    due_at: UtcDatetime
    session_id: EntityId | None = None


class FollowUpTaskCompleted(EventBase):
    event_type: Literal["FollowUpTaskCompleted"] = "FollowUpTaskCompleted"
    task_id: EntityId
    kind: TaskKind
    coach_id: EntityId
    completed_by: EntityId | None = None


class FollowUpTaskOverdue(EventBase):
    event_type: Literal["FollowUpTaskOverdue"] = "FollowUpTaskOverdue"
    task_id: EntityId
    kind: TaskKind
    coach_id: EntityId
    escalated_to_site_lead: bool = False
    due_at: UtcDatetime | None = None
    site_lead_id: EntityId | None = None


class IntegrationBookingRequested(EventBase):
    event_type: Literal["IntegrationBookingRequested"] = "IntegrationBookingRequested"
    task_id: EntityId
    session_id: EntityId
    book_by: UtcDatetime
    appointment_id: EntityId | None = None
    """The dosing appointment the session was for, so scheduling need not decode session ids."""


class IntegrationSessionRecorded(EventBase):
    """A therapist recorded an integration session as held (`completed`) or not (`missed`)."""

    event_type: Literal["IntegrationSessionRecorded"] = "IntegrationSessionRecorded"
    integration_session_id: EntityId
    status: Literal["completed", "missed"]
    therapist_id: EntityId
    held_at: UtcDatetime
    session_id: EntityId | None = None


class OutcomeMeasured(EventBase):
    event_type: Literal["OutcomeMeasured"] = "OutcomeMeasured"
    instrument: Literal["phq9"] = "phq9"
    total: Phq9Total
    item9: Annotated[int, Field(ge=0, le=3)]
    baseline_total: Phq9Total | None = None


class ResponseAchieved(EventBase):
    event_type: Literal["ResponseAchieved"] = "ResponseAchieved"
    total: Phq9Total
    baseline_total: Phq9Total


class RemissionAchieved(EventBase):
    event_type: Literal["RemissionAchieved"] = "RemissionAchieved"
    total: Phq9Total


class RelapseSuspected(EventBase):
    event_type: Literal["RelapseSuspected"] = "RelapseSuspected"
    total: Phq9Total
    best_total: Phq9Total
    baseline_total: Phq9Total | None = None


EVENTS: tuple[type[EventBase], ...] = (
    CoachAssigned,
    FollowUpTaskCreated,
    FollowUpTaskCompleted,
    FollowUpTaskOverdue,
    IntegrationBookingRequested,
    IntegrationSessionRecorded,
    OutcomeMeasured,
    ResponseAchieved,
    RemissionAchieved,
    RelapseSuspected,
    RiskFlagRaised,
)
"""Every event the coaching service publishes on its topic, in catalog order."""
