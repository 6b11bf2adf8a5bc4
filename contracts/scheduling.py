"""Events the scheduling service produces: courses and appointments."""

from typing import Annotated, Literal

from pydantic import Field

from contracts.envelope import EntityId, EventBase, UtcDatetime
from contracts.vocabulary import AppointmentKind, CoursePhase, Protocol


class CourseScheduled(EventBase):
    event_type: Literal["CourseScheduled"] = "CourseScheduled"
    course_id: EntityId
    protocol: Protocol
    planned_doses: Annotated[int, Field(ge=1, le=52)]


class AppointmentBooked(EventBase):
    event_type: Literal["AppointmentBooked"] = "AppointmentBooked"
    appointment_id: EntityId
    course_id: EntityId | None = None
    kind: AppointmentKind
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    chair_id: EntityId | None = None
    provider_id: EntityId | None = None
    dose_number: Annotated[int, Field(ge=1)] | None = None
    protocol: Protocol | None = None
    course_phase: CoursePhase | None = None


class AppointmentRescheduled(EventBase):
    event_type: Literal["AppointmentRescheduled"] = "AppointmentRescheduled"
    appointment_id: EntityId
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    reason: str = Field(min_length=1, max_length=200)


class AppointmentCancelled(EventBase):
    event_type: Literal["AppointmentCancelled"] = "AppointmentCancelled"
    appointment_id: EntityId
    reason: str = Field(min_length=1, max_length=200)


class AppointmentNoShow(EventBase):
    event_type: Literal["AppointmentNoShow"] = "AppointmentNoShow"
    appointment_id: EntityId
    kind: AppointmentKind


EVENTS: tuple[type[EventBase], ...] = (
    CourseScheduled,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentNoShow,
)
"""Every event the scheduling service publishes on its topic, in catalog order."""
