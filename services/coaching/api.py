"""Coaching's HTTP request and response models: shape and range checks only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.envelope import EntityId
from contracts.vocabulary import TaskKind
from services.coaching.domain import CheckIn, Outcome
from services.coaching.integration import RecordIntegrationSession
from services.coaching.roster import Availability

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
    coach_id: str
    due_at: datetime
    session_id: str | None
    overdue: bool
    escalated: bool = False


class AvailabilityIn(BaseModel):
    """A coach's availability at a site; `until` ends an absence by itself."""

    model_config = ConfigDict(extra="forbid")
    status: Availability
    until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _until_only_for_absence(self) -> AvailabilityIn:
        if self.until is not None and self.status is not Availability.ABSENT:
            raise ValueError("until applies to an absence only")
        return self


class MovedPatient(BaseModel):
    patient_id: str
    coach_id: str
    task_ids: list[str]


class AvailabilityOut(BaseModel):
    site_id: str
    coach_id: str
    status: Availability
    until: datetime | None
    moved: list[MovedPatient]


class IntegrationSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["completed", "missed"]
    held_at: AwareDatetime | None = None
    session_id: EntityId | None = None
    note: str | None = Field(default=None, max_length=4000)

    def to_command(self, integration_session_id: str, now: datetime) -> RecordIntegrationSession:
        return RecordIntegrationSession(
            integration_session_id=integration_session_id,
            status=self.status,
            held_at=self.held_at or now,
            session_id=self.session_id,
            note=self.note,
        )


class IntegrationSessionOut(BaseModel):
    patient_id: str
    integration_session_id: str
    status: Literal["completed", "missed"]
    events: list[str]
