"""Coaching's HTTP request and response models: shape and range checks only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.vocabulary import TaskKind
from services.coaching.domain import CheckIn, Outcome

Answer = Annotated[int, Field(ge=0, le=3)]
Goal = Annotated[str, Field(min_length=1, max_length=200)]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phq9: list[Answer] | None = Field(default=None, min_length=9, max_length=9)
    check_in: CheckIn | None = None
    goals: list[Goal] = Field(default_factory=list, max_length=20)

    def to_domain(self) -> Outcome:
        phq9 = tuple(self.phq9) if self.phq9 is not None else None
        return Outcome(phq9=phq9, check_in=self.check_in, goals=tuple(self.goals))


class CompleteTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: OutcomeIn
    note: str | None = Field(default=None, max_length=4000)


class CompletionOut(BaseModel):
    patient_id: str
    task_id: str
    kind: TaskKind
    status: str
    events: list[str]


class QueuedTask(BaseModel):
    patient_id: str
    task_id: str
    kind: TaskKind
    due_at: datetime
    session_id: str | None
    overdue: bool
