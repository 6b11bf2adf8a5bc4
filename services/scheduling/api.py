"""Scheduling's HTTP response models: what a clinician sees of a patient's course."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from contracts.vocabulary import AppointmentKind, CoursePhase, Decision, Protocol
from services.scheduling.course import (
    Appointment,
    AppointmentStatus,
    BlockedReason,
    Course,
    CourseStatus,
)


class AppointmentOut(BaseModel):
    appointment_id: str
    kind: AppointmentKind
    starts_at: datetime
    ends_at: datetime
    chair_id: str | None
    dose_number: int | None
    course_phase: CoursePhase | None
    status: AppointmentStatus

    @classmethod
    def of(cls, appointment: Appointment) -> AppointmentOut:
        return cls.model_validate(appointment.model_dump())


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
    blocked_reason: BlockedReason | None

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
        )
