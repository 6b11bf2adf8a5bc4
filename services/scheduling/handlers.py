"""Scheduling's entry points: event subscribers and HTTP routes (load -> decide -> save).

The outbox in the course document publishes what the domain decided; the event id goes into
the same document's inbox, so a redelivered event is acknowledged without a second booking.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from contracts import Topic
from contracts.intake import EligibilityDecided
from contracts.session import SessionDischarged
from services.runtime.aggregate import AggregateStore, Applied
from services.runtime.auth import Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.logging import get_logger
from services.runtime.network import Network
from services.runtime.service import Service
from services.scheduling import domain
from services.scheduling.api import CourseOut
from services.scheduling.course import Course, CourseNotFound, CourseStatus
from services.scheduling.rules import SchedulingRules

log = get_logger(__name__)

COURSE_READERS = (
    Role.INTAKE_COORDINATOR,
    Role.PSYCHIATRIST,
    Role.NURSE,
    Role.THERAPIST,
    Role.SITE_ADMIN,
    Role.OPS,
)


def log_if_blocked(applied: Applied[Course]) -> None:
    """Say why nothing was booked: ids, protocol and reason only, never identity data."""
    course = applied.state
    if applied.duplicate or course is None or course.status is not CourseStatus.BLOCKED:
        return
    log.warning(
        "course_blocked",
        site_id=course.site_id,
        course_id=course.course_id,
        protocol=course.protocol,
        reason=course.blocked_reason,
    )


def subscriptions(
    service: Service, store: AggregateStore[Course], rules: SchedulingRules, network: Network
) -> dict[Topic, Routes]:
    """The routing table: which events scheduling reacts to, per topic."""

    async def on_eligibility_decided(event: EligibilityDecided) -> None:
        stamp, site = service.stamp_for(event), network.site(event.site_id)
        applied = await store.apply(
            event.patient_id,
            lambda course: domain.decide_eligibility(course, event, site, stamp, rules),
            event_id=str(event.event_id),
        )
        log_if_blocked(applied)

    async def on_session_discharged(event: SessionDischarged) -> None:
        stamp, site = service.stamp_for(event), network.site(event.site_id)
        applied = await store.apply(
            event.patient_id,
            lambda course: domain.decide_discharge(course, event, site, stamp, rules),
            event_id=str(event.event_id),
        )
        log_if_blocked(applied)

    return {
        Topic.INTAKE: {EligibilityDecided: on_eligibility_decided},
        Topic.SESSION: {SessionDischarged: on_session_discharged},
    }


def routes(store: AggregateStore[Course]) -> APIRouter:
    router = APIRouter(tags=["scheduling"])

    @router.get("/patients/{patient_id}/course")
    async def read_course(
        patient_id: str, principal: Annotated[Principal, Depends(require(*COURSE_READERS))]
    ) -> CourseOut:
        course = (await store.load(patient_id)).state
        if course is None or not principal.may_access(course.site_id):
            raise CourseNotFound(patient_id)
        return CourseOut.of(course)

    return router
