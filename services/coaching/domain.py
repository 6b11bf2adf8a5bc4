"""Coaching rules: decide_* functions take state, an event or command and a Stamp, return events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal
from uuid import UUID, uuid5

from pydantic import BaseModel, Field

from contracts.coaching import (
    AssignmentReason,
    CoachAssigned,
    FollowUpTaskCreated,
    IntegrationBookingRequested,
)
from contracts.envelope import EventBase, Stamp, UtcDatetime, stable_id
from contracts.intake import ScreeningScored
from contracts.session import SessionDischarged
from contracts.vocabulary import CoursePhase, TaskKind
from services.coaching.roster import Availability, CoachPool
from services.coaching.rules import CoachingRules
from services.runtime.refusals import InvalidValue, NotFound, NotPermitted, RuleViolation

CheckIn = Literal["ok", "concern"]


class CoachingError(RuleViolation):
    """Base of coaching's named rule violations."""


class TaskOfAnotherCoachError(CoachingError, NotPermitted):
    """Only the coach a follow-up task is assigned to may complete it."""


class TaskAlreadyCompletedError(CoachingError):
    """A follow-up task is completed once; its outcome is already recorded."""


class Phq9AnswersRequiredError(CoachingError, InvalidValue):
    """A PHQ-9 follow-up task is completed with the nine PHQ-9 answers."""


class UnknownTaskError(NotFound):
    """No such follow-up task for this patient."""


class UnknownPatientError(NotFound):
    """Coaching has no record of this patient (no screening or discharge seen yet)."""


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


class Task(BaseModel):
    kind: TaskKind
    coach_id: str
    due_at: UtcDatetime
    session_id: str | None = None
    appointment_id: str | None = None
    correlation_id: UUID | None = None
    status: TaskStatus = TaskStatus.OPEN
    overdue_notified: bool = False
    escalated: bool = False
    completed_at: UtcDatetime | None = None
    completed_by: str | None = None
    check_in: CheckIn | None = None
    goals: list[str] = Field(default_factory=list)
    note: str | None = None  # the coach's own note: stored here only, never logged or emitted


class IntegrationSession(BaseModel):
    status: Literal["completed", "missed"]
    therapist_id: str
    held_at: UtcDatetime
    session_id: str | None = None
    note: str | None = None  # the therapist's own note: stored here only, never logged or emitted


class CoachingRecord(BaseModel):
    patient_id: str
    site_id: str
    coach_id: str | None = None
    baseline_phq9: int | None = None
    best_phq9: int | None = None
    response_achieved: bool = False
    remission_achieved: bool = False
    relapse_suspected: bool = False
    worsening_streak: int = 0
    tasks: dict[str, Task] = Field(default_factory=dict)
    integration_sessions: dict[str, IntegrationSession] = Field(default_factory=dict)
    doses: dict[str, UtcDatetime] = Field(default_factory=dict)
    """When each treatment session's dose was given (session id -> SessionDischarged.dosed_at),
    so an integration session can be held to follow it. Discharges that carried no dosed_at,
    and records from before this was kept, have no entry."""

    def open_tasks(self) -> dict[str, Task]:
        return {k: t for k, t in self.tasks.items() if t.status is TaskStatus.OPEN}

    def has_open(self, kind: TaskKind) -> bool:
        return any(t.kind is kind for t in self.open_tasks().values())

    def ever_had(self, kind: TaskKind) -> bool:
        return any(t.kind is kind for t in self.tasks.values())


@dataclass(frozen=True)
class Outcome:
    """What the coach recorded when completing a task (already range-checked by the API)."""

    phq9: tuple[int, ...] | None = None
    check_in: CheckIn | None = None
    goals: tuple[str, ...] = ()


def decide_screening(
    record: CoachingRecord | None, event: ScreeningScored
) -> tuple[CoachingRecord, list[EventBase]]:
    """The intake PHQ-9 is the baseline follow-up outcomes are measured against (DESIGN:
    outcomes vs baseline PHQ-9). The first screening wins: a later one never moves it."""
    if record is None:
        return CoachingRecord(
            patient_id=event.patient_id, site_id=event.site_id, baseline_phq9=event.phq9_total
        ), []
    if record.baseline_phq9 is not None:
        return record, []
    return record.model_copy(update={"baseline_phq9": event.phq9_total}), []


def follow_up_plan(
    record: CoachingRecord, discharge: SessionDischarged, rules: CoachingRules
) -> list[tuple[TaskKind, datetime]]:
    """DESIGN "After treatment": each discharge creates an integration-session booking (within
    72 h) and a coach check-in (+24 h); the lifestyle plan is due in week 1 of the first
    discharge only; PHQ-9 is weekly during the course (induction) and monthly in maintenance,
    never two open at once. Times count from the discharge, so a replay plans the same dates."""
    at = discharge.occurred_at
    plan = [
        (TaskKind.INTEGRATION_BOOKING, at + timedelta(hours=rules.integration_within_hours)),
        (TaskKind.COACH_CHECK_IN, at + timedelta(hours=rules.check_in_after_hours)),
    ]
    if not record.ever_had(TaskKind.LIFESTYLE_PLAN):
        plan.append((TaskKind.LIFESTYLE_PLAN, at + timedelta(days=rules.lifestyle_plan_days)))
    if not record.has_open(TaskKind.PHQ9):
        in_course = discharge.course_phase is CoursePhase.INDUCTION
        days = rules.phq9_course_days if in_course else rules.phq9_maintenance_days
        plan.append((TaskKind.PHQ9, at + timedelta(days=days)))
    return plan


def task_id_for(discharge_id: UUID, kind: TaskKind) -> str:
    """Deterministic per discharge and kind, so a redelivered discharge cannot double a task."""
    return str(uuid5(discharge_id, kind.value))


def new_task(
    record: CoachingRecord,
    task_id: str,
    task: Task,
    stamp: Stamp,
) -> list[EventBase]:
    """Add `task` to the record (mutated: callers pass their working copy) and announce it; an
    integration-booking task also asks scheduling to book the session."""
    record.tasks[task_id] = task
    envelope = stamp.envelope(record.patient_id, record.site_id)
    events: list[EventBase] = [
        FollowUpTaskCreated(
            **{**envelope, "event_id": stable_id(task_id, "created")},
            task_id=task_id,
            kind=task.kind,
            coach_id=task.coach_id,
            due_at=task.due_at,
            session_id=task.session_id,
        )
    ]
    if task.kind is TaskKind.INTEGRATION_BOOKING and task.session_id is not None:
        events.append(
            IntegrationBookingRequested(
                **stamp.envelope(record.patient_id, record.site_id),
                task_id=task_id,
                session_id=task.session_id,
                book_by=task.due_at,
                appointment_id=task.appointment_id,
            )
        )
    return events


def assign(
    record: CoachingRecord, pool: CoachPool, reason: AssignmentReason, stamp: Stamp
) -> list[EventBase]:
    """Give the patient the pool's choice of coach (`CoachPool.choose`) and move their open
    tasks along with them, so nothing stays in an absent or departed coach's queue. `record`
    is the caller's working copy and is changed in place."""
    previous = record.coach_id
    coach_id, over_capacity = pool.choose(exclude=previous)
    moved = sorted(k for k, t in record.open_tasks().items() if t.coach_id != coach_id)
    for task_id in moved:
        record.tasks[task_id] = record.tasks[task_id].model_copy(update={"coach_id": coach_id})
    record.coach_id = coach_id
    return [
        CoachAssigned(
            **stamp.envelope(record.patient_id, record.site_id),
            coach_id=coach_id,
            previous_coach_id=previous,
            reason=reason,
            task_ids=tuple(moved),
            over_capacity=over_capacity,
        )
    ]


def reason_for(status: Availability) -> AssignmentReason:
    return "coach_left" if status is Availability.LEFT else "coach_absent"


def decide_reassignment(
    record: CoachingRecord | None, from_coach: str, pool: CoachPool, stamp: Stamp
) -> tuple[CoachingRecord, list[EventBase]]:
    """A coach who left or is absent hands each patient to the site's least-loaded available
    coach, open tasks included (issue 6: reassignment when a coach leaves or is absent).
    Re-checked under the aggregate lock: a patient already moved is left alone."""
    if record is None:
        raise UnknownPatientError()
    status = pool.unavailable.get(from_coach)
    if record.coach_id != from_coach or status is None:
        return record, []
    updated = record.model_copy(deep=True)
    return updated, assign(updated, pool, reason_for(status), stamp)


def decide_discharge(
    record: CoachingRecord | None,
    discharge: SessionDischarged,
    pool: CoachPool,
    rules: CoachingRules,
    stamp: Stamp,
) -> tuple[CoachingRecord, list[EventBase]]:
    """Assign a coach if the patient has none, or a new one if theirs is unavailable (`pool`:
    the site's coaches), then create the follow-up plan of `follow_up_plan` as their tasks.
    The dose time is kept for the integration session that will follow it."""
    current = record or CoachingRecord(patient_id=discharge.patient_id, site_id=discharge.site_id)
    updated = current.model_copy(deep=True, update={"site_id": discharge.site_id})
    if discharge.dosed_at is not None:
        updated.doses[discharge.session_id] = discharge.dosed_at
    events: list[EventBase] = []
    if updated.coach_id is None:
        events += assign(updated, pool, "first_discharge", stamp)
    elif (status := pool.unavailable.get(updated.coach_id)) is not None:
        events += assign(updated, pool, reason_for(status), stamp)
    assert updated.coach_id is not None
    for kind, due_at in follow_up_plan(current, discharge, rules):
        task_id = task_id_for(discharge.event_id, kind)
        if task_id in updated.tasks:
            continue
        task = Task(
            kind=kind,
            coach_id=updated.coach_id,
            due_at=due_at,
            session_id=discharge.session_id,
            appointment_id=discharge.appointment_id,
            correlation_id=discharge.correlation_id,
        )
        events += new_task(updated, task_id, task, stamp)
    return updated, events
