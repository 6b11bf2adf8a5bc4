"""A patient's course as scheduling stores it: decision, plan, appointments and status."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.runtime.errors import NotFound

MAX_ID_LENGTH = 64
"""contracts.envelope.EntityId allows at most 64 characters."""


class CourseStatus(StrEnum):
    NOT_SCHEDULED = "not_scheduled"
    ACTIVE = "active"
    BLOCKED = "blocked"
    COMPLETED = "completed"


class BlockedReason(StrEnum):
    SITE_NOT_REMS_CERTIFIED = "site_not_rems_certified"
    UNKNOWN_SITE = "unknown_site"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    COMPLETED = "completed"


class CourseNotFound(NotFound):
    """No treatment course for this patient (or not in the caller's sites)."""


class Appointment(BaseModel):
    model_config = ConfigDict(frozen=True)
    appointment_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    chair_id: str | None = None
    dose_number: int | None = None
    course_phase: CoursePhase | None = None
    status: AppointmentStatus = AppointmentStatus.BOOKED


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
    blocked_reason: BlockedReason | None = None


def entity_id(prefix: str, patient_id: str, suffix: str = "") -> str:
    """Deterministic ids, so a replay names the same course and appointments; the patient id is
    replaced by a digest when the result would exceed the contract's 64 characters."""
    tail = [suffix] if suffix else []
    readable = "-".join([prefix, patient_id, *tail])
    if len(readable) <= MAX_ID_LENGTH:
        return readable
    digest = hashlib.sha256(patient_id.encode()).hexdigest()[:32]
    return "-".join([prefix, digest, *tail])


def active_plan(course: Course) -> tuple[Protocol, int] | None:
    """(protocol, planned doses) of a course being dosed; None when it is not active."""
    if course.status is not CourseStatus.ACTIVE:
        return None
    if course.protocol is None or course.planned_doses is None:
        return None
    return course.protocol, course.planned_doses


def blocked(course: Course, reason: BlockedReason) -> Course:
    return course.model_copy(update={"status": CourseStatus.BLOCKED, "blocked_reason": reason})
