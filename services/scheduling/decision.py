"""What a scheduling decision reads and returns, and what every decision shares.

A decide_* function takes the course (or None), the event and a Context (network, occupancy,
stamp, rules) and returns an Outcome: the new course, the events to publish, the reservations
to take (Holds) and those to release; every booking tells AppointmentBooked. Pure: the booker
makes the reservations real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.envelope import EventBase, Stamp
from contracts.scheduling import AppointmentBooked
from contracts.vocabulary import AppointmentKind
from services.scheduling.course import Appointment, Course
from services.scheduling.network import ClinicNetwork
from services.scheduling.rules import SchedulingRules
from services.scheduling.slots import Occupancy, Placement


@dataclass(frozen=True)
class Context:
    network: ClinicNetwork
    occupancy: Occupancy
    stamp: Stamp
    rules: SchedulingRules


@dataclass(frozen=True)
class Hold:
    appointment_id: str
    placement: Placement


@dataclass(frozen=True)
class Outcome:
    course: Course
    events: tuple[EventBase, ...] = ()
    take: tuple[Hold, ...] = ()
    release: tuple[str, ...] = field(default=())


def holds(*appointments: Appointment) -> tuple[Hold, ...]:
    return tuple(Hold(a.appointment_id, a.placement) for a in appointments)


def booked(course: Course, appointment: Appointment, stamp: Stamp) -> AppointmentBooked:
    treatment = appointment.kind in (AppointmentKind.DOSING, AppointmentKind.BOOSTER)
    return AppointmentBooked(
        **stamp.envelope(course.patient_id, appointment.site_id or course.site_id),
        appointment_id=appointment.appointment_id,
        course_id=course.course_id,
        kind=appointment.kind,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        chair_id=appointment.chair_id,
        provider_id=appointment.provider_id,
        room_id=appointment.room_id,
        dose_number=appointment.dose_number,
        protocol=course.protocol if treatment else None,
        course_phase=appointment.course_phase,
        for_dose=appointment.for_dose,
    )
