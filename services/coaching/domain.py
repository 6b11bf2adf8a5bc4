"""Coaching rules: decide_* functions take state, an event or command and a Stamp, return events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid5

from pydantic import BaseModel, Field

from contracts.coaching import (
    CoachAssigned,
    FollowUpTaskCreated,
    IntegrationBookingRequested,
)
from contracts.envelope import EventBase, Stamp, UtcDatetime
from contracts.intake import ScreeningScored
from contracts.session import SessionDischarged
from contracts.vocabulary import CoursePhase, TaskKind
from services.coaching.rules import CoachingRules
from services.runtime.errors import NotFound, RuleViolation

CheckIn = Literal["ok", "concern"]


class CoachingError(RuleViolation):
    """Base of coaching's named rule violations."""


class NoCoachAtSiteError(CoachingError):
    """DESIGN: coaches are assigned per site, but the discharging site has none configured."""


class TaskOfAnotherCoachError(CoachingError):
    """Only the coach a follow-up task is assigned to may complete it."""

    status_code = 403


class TaskAlreadyCompletedError(CoachingError):
    """A follow-up task is completed once; its outcome is already recorded."""


class Phq9AnswersRequiredError(CoachingError):
    """A PHQ-9 follow-up task is completed with the nine PHQ-9 answers."""

    status_code = 422


class UnknownTaskError(NotFound):
    """No such follow-up task for this patient."""


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


class Task(BaseModel):
    kind: TaskKind
    coach_id: str
    due_at: UtcDatetime
    session_id: str | None = None
    status: TaskStatus = TaskStatus.OPEN
    completed_at: UtcDatetime | None = None
    check_in: CheckIn | None = None
    goals: list[str] = Field(default_factory=list)
    note: str | None = None  # the coach's own note: stored here only, never logged or emitted


class CoachingRecord(BaseModel):
    patient_id: str
    site_id: str
    coach_id: str | None = None
    baseline_phq9: int | None = None
    best_phq9: int | None = None
    response_achieved: bool = False
    remission_achieved: bool = False
    tasks: dict[str, Task] = Field(default_factory=dict)

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


def least_loaded_coach(loads: Mapping[str, int]) -> str:
    """DESIGN: coaches are assigned per site, least loaded first (patients already assigned).
    Ties go to the lowest coach id so the choice is deterministic."""
    if not loads:
        raise NoCoachAtSiteError()
    return min(loads, key=lambda coach: (loads[coach], coach))


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


def decide_discharge(
    record: CoachingRecord | None,
    discharge: SessionDischarged,
    loads: Mapping[str, int],
    rules: CoachingRules,
    stamp: Stamp,
) -> tuple[CoachingRecord, list[EventBase]]:
    """Assign a coach if the patient has none (`loads`: patients per coach of the site), then
    create the follow-up plan of `follow_up_plan` as tasks for that coach."""
    current = record or CoachingRecord(patient_id=discharge.patient_id, site_id=discharge.site_id)
    updated = current.model_copy(deep=True, update={"site_id": discharge.site_id})
    events: list[EventBase] = []

    def envelope() -> dict[str, Any]:
        return stamp.envelope(updated.patient_id, updated.site_id)

    if updated.coach_id is None:
        updated.coach_id = least_loaded_coach(loads)
        events.append(CoachAssigned(**envelope(), coach_id=updated.coach_id))
    coach_id = updated.coach_id
    for kind, due_at in follow_up_plan(current, discharge, rules):
        task_id = task_id_for(discharge.event_id, kind)
        if task_id in updated.tasks:
            continue
        updated.tasks[task_id] = Task(
            kind=kind, coach_id=coach_id, due_at=due_at, session_id=discharge.session_id
        )
        events.append(
            FollowUpTaskCreated(
                **envelope(),
                task_id=task_id,
                kind=kind,
                coach_id=coach_id,
                due_at=due_at,
                session_id=discharge.session_id,
            )
        )
        if kind is TaskKind.INTEGRATION_BOOKING:
            events.append(
                IntegrationBookingRequested(
                    **envelope(), task_id=task_id, session_id=discharge.session_id, book_by=due_at
                )
            )
    return updated, events
