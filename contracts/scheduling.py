"""Events the scheduling service produces: courses, appointments, proposals and site moves."""

from typing import Annotated, Literal

from pydantic import Field

from contracts.envelope import EntityId, EventBase, UtcDatetime
from contracts.vocabulary import AppointmentKind, CoursePhase, Protocol

Frequency = Literal["thrice_weekly", "twice_weekly", "weekly", "every_2_weeks", "every_4_weeks"]
"""How often a course doses; a missed maintenance dose may return to the previous one."""

BlockReason = Literal["site_not_rems_certified", "unknown_site", "no_capacity"]


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
    room_id: EntityId | None = None
    for_dose: Annotated[int, Field(ge=1)] | None = None
    """An integration session's dose: the integration follows that treatment day."""


class AppointmentRescheduled(EventBase):
    event_type: Literal["AppointmentRescheduled"] = "AppointmentRescheduled"
    appointment_id: EntityId
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    reason: str = Field(min_length=1, max_length=200)
    chair_id: EntityId | None = None
    provider_id: EntityId | None = None
    room_id: EntityId | None = None


class AppointmentCancelled(EventBase):
    event_type: Literal["AppointmentCancelled"] = "AppointmentCancelled"
    appointment_id: EntityId
    reason: str = Field(min_length=1, max_length=200)
    kind: AppointmentKind | None = None
    dose_number: Annotated[int, Field(ge=1)] | None = None


class AppointmentNoShow(EventBase):
    event_type: Literal["AppointmentNoShow"] = "AppointmentNoShow"
    appointment_id: EntityId
    kind: AppointmentKind
    dose_number: Annotated[int, Field(ge=1)] | None = None
    course_phase: CoursePhase | None = None


class CourseBlocked(EventBase):
    """An approved course could not be booked: the reason says which rule stopped it."""

    event_type: Literal["CourseBlocked"] = "CourseBlocked"
    course_id: EntityId
    protocol: Protocol
    reason: BlockReason


class BoosterProposed(EventBase):
    """A booster dose proposed after a suspected relapse; a prescriber confirms or declines."""

    event_type: Literal["BoosterProposed"] = "BoosterProposed"
    proposal_id: EntityId
    course_id: EntityId
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    reason: str = Field(min_length=1, max_length=200)


class FrequencyChangeProposed(EventBase):
    """After a missed maintenance dose: return to the previous dosing frequency (prescriber)."""

    event_type: Literal["FrequencyChangeProposed"] = "FrequencyChangeProposed"
    proposal_id: EntityId
    course_id: EntityId
    missed_appointment_id: EntityId
    current_frequency: Frequency
    proposed_frequency: Frequency


class ProposalDecided(EventBase):
    event_type: Literal["ProposalDecided"] = "ProposalDecided"
    proposal_id: EntityId
    course_id: EntityId
    confirmed: bool
    decided_by: EntityId


class CourseTransferred(EventBase):
    """The course moved to another site (envelope site_id is the new site)."""

    event_type: Literal["CourseTransferred"] = "CourseTransferred"
    course_id: EntityId
    from_site_id: EntityId
    to_site_id: EntityId
    reason: str = Field(min_length=1, max_length=200)


class CourseExtended(EventBase):
    """A prescriber changed how many doses the course plans (DESIGN safety invariant 6: only a
    prescriber extends or reopens a course); a completed course becomes active again."""

    event_type: Literal["CourseExtended"] = "CourseExtended"
    course_id: EntityId
    planned_doses: Annotated[int, Field(ge=1, le=52)]
    previous_planned_doses: Annotated[int, Field(ge=0, le=52)]
    extended_by: EntityId
    reason: str = Field(min_length=1, max_length=200)


class SiteCertificationChanged(EventBase):
    """A site's Spravato REMS certification changed (envelope site_id is that site). Sent once
    per patient with an active esketamine course there, so every service that gates a dose on
    the site's certification learns it on the patient's own stream (DESIGN safety invariant 3)."""

    event_type: Literal["SiteCertificationChanged"] = "SiteCertificationChanged"
    rems_certified: bool
    changed_by: EntityId


EVENTS: tuple[type[EventBase], ...] = (
    CourseScheduled,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentNoShow,
    CourseBlocked,
    BoosterProposed,
    FrequencyChangeProposed,
    ProposalDecided,
    CourseTransferred,
    CourseExtended,
    SiteCertificationChanged,
)
"""Every event the scheduling service publishes on its topic, in catalog order."""
