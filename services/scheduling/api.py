"""Scheduling's HTTP request and response models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.envelope import EntityId
from contracts.scheduling import BlockReason, Frequency
from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    Course,
    CourseStatus,
    Proposal,
    ProposalKind,
    ProposalStatus,
)
from services.scheduling.slots import Placement

Reason = str


class AppointmentOut(BaseModel):
    appointment_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    site_id: str
    chair_id: str | None
    room_id: str | None
    provider_id: str | None
    dose_number: int | None
    course_phase: CoursePhase | None
    for_dose: int | None
    status: AppointmentStatus
    reason: str | None

    @classmethod
    def of(cls, appointment: Appointment) -> AppointmentOut:
        return cls.model_validate(appointment.model_dump())


class ProposalOut(BaseModel):
    proposal_id: str
    kind: ProposalKind
    reason: str
    status: ProposalStatus
    starts_at: datetime | None
    current_frequency: Frequency | None
    proposed_frequency: Frequency | None

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalOut:
        return cls(
            **proposal.model_dump(exclude={"placement", "missed_appointment_id"}),
            starts_at=proposal.placement.starts_at if proposal.placement else None,
        )


class CourseOut(BaseModel):
    patient_id: str
    site_id: str
    course_id: str
    decision: Decision
    protocol: Protocol | None
    planned_doses: int | None
    doses_given: int
    appointments: list[AppointmentOut]
    status: CourseStatus
    blocked_reason: BlockReason | None
    frequency_override: Frequency | None
    proposals: list[ProposalOut]

    @classmethod
    def of(cls, course: Course) -> CourseOut:
        return cls(
            patient_id=course.patient_id,
            site_id=course.site_id,
            course_id=course.course_id,
            decision=course.decision,
            protocol=course.protocol,
            planned_doses=course.planned_doses,
            doses_given=len(course.doses_given),
            appointments=[AppointmentOut.of(a) for a in course.appointments],
            status=course.status,
            blocked_reason=course.blocked_reason,
            frequency_override=course.frequency_override,
            proposals=[ProposalOut.of(p) for p in course.proposals],
        )


class BookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: AppointmentKind
    starts_at: AwareDatetime
    provider_id: EntityId | None = None
    chair_id: EntityId | None = None
    room_id: EntityId | None = None
    dose_number: int | None = Field(default=None, ge=1, le=52)
    for_dose: int | None = Field(default=None, ge=1, le=52)


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=200)
    provider_id: EntityId | None = None
    chair_id: EntityId | None = None
    room_id: EntityId | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: EntityId
    reason: str = Field(min_length=1, max_length=200)


class ExtendIn(BaseModel):
    """A prescriber's extension of the course: its new number of planned doses, and why."""

    model_config = ConfigDict(extra="forbid")
    planned_doses: int = Field(
        ge=1, le=52, description="The course's new plan; more doses than it plans now."
    )
    reason: str = Field(min_length=1, max_length=200)


class AvailabilityOut(BaseModel):
    site_id: str
    kind: AppointmentKind
    slots: list[Placement]


class AvailabilityQuery(BaseModel):
    kind: AppointmentKind
    protocol: Protocol | None = None
    start: date
    days: int = Field(default=7, ge=1, le=31)
