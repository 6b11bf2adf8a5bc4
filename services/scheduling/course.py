"""A patient's course as scheduling stores it: decision, plan, appointments and proposals."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from contracts.scheduling import BlockReason, Frequency
from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.scheduling.slots import Placement

MAX_ID_LENGTH = 64
"""contracts.envelope.EntityId allows at most 64 characters."""


class CourseStatus(StrEnum):
    NOT_SCHEDULED = "not_scheduled"
    ACTIVE = "active"
    BLOCKED = "blocked"
    COMPLETED = "completed"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class ProposalKind(StrEnum):
    BOOSTER = "booster"
    FREQUENCY = "frequency"


class ProposalStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


class Appointment(BaseModel):
    model_config = ConfigDict(frozen=True)
    appointment_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    site_id: str = ""
    chair_id: str | None = None
    room_id: str | None = None
    provider_id: str | None = None
    dose_number: int | None = None
    course_phase: CoursePhase | None = None
    for_dose: int | None = None
    status: AppointmentStatus = AppointmentStatus.BOOKED
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.status is AppointmentStatus.BOOKED

    @property
    def placement(self) -> Placement:
        return Placement(
            site_id=self.site_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            chair_id=self.chair_id,
            room_id=self.room_id,
            provider_id=self.provider_id,
        )

    def placed(self, placement: Placement) -> Appointment:
        return self.model_copy(update=placement.model_dump())


class Proposal(BaseModel):
    """Something a prescriber decides: a booster slot, or a return to a previous frequency."""

    model_config = ConfigDict(frozen=True)
    proposal_id: str
    kind: ProposalKind
    reason: str
    status: ProposalStatus = ProposalStatus.OPEN
    placement: Placement | None = None
    missed_appointment_id: str | None = None
    current_frequency: Frequency | None = None
    proposed_frequency: Frequency | None = None


class Course(BaseModel):
    """One per patient: the prescriber's decision and, once approved, the booked course."""

    model_config = ConfigDict(frozen=True)
    course_id: str
    patient_id: str
    site_id: str
    decision: Decision
    protocol: Protocol | None = None
    planned_doses: int | None = None
    doses_given: tuple[int, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    status: CourseStatus = CourseStatus.NOT_SCHEDULED
    blocked_reason: BlockReason | None = None
    frequency_override: Frequency | None = None
    proposals: tuple[Proposal, ...] = ()

    def appointment(self, appointment_id: str) -> Appointment | None:
        return next((a for a in self.appointments if a.appointment_id == appointment_id), None)

    def proposal(self, proposal_id: str) -> Proposal | None:
        return next((p for p in self.proposals if p.proposal_id == proposal_id), None)

    def dose(self, number: int) -> Appointment | None:
        return next(
            (
                a
                for a in self.appointments
                if a.kind is AppointmentKind.DOSING and a.dose_number == number and a.live
            ),
            None,
        )

    def with_appointment(self, appointment: Appointment) -> Course:
        others = [a for a in self.appointments if a.appointment_id != appointment.appointment_id]
        ordered = sorted([*others, appointment], key=lambda a: (a.starts_at, a.appointment_id))
        return self.model_copy(update={"appointments": tuple(ordered)})

    def with_proposal(self, proposal: Proposal) -> Course:
        others = [p for p in self.proposals if p.proposal_id != proposal.proposal_id]
        return self.model_copy(update={"proposals": (*others, proposal)})


def entity_id(prefix: str, patient_id: str, suffix: str = "") -> str:
    """Deterministic ids, so a replay names the same course and appointments; the patient id is
    replaced by a digest when the result would exceed the contract's 64 characters."""
    tail = [suffix] if suffix else []
    readable = "-".join([prefix, patient_id, *tail])
    if len(readable) <= MAX_ID_LENGTH:
        return readable
    digest = hashlib.sha256(patient_id.encode()).hexdigest()[:32]
    return "-".join([prefix, digest, *tail])


def session_appointment(session_id: str) -> str | None:
    """The appointment a treatment-day session belongs to: the session service names sessions
    `ses-<appointment id>` (hashed only for ids past 60 characters, which ours never are)."""
    return session_id.removeprefix("ses-") if session_id.startswith("ses-") else None
