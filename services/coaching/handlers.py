"""Coaching's message handlers and HTTP routes: load -> decide -> save (the outbox publishes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from contracts import Topic
from contracts.intake import ScreeningScored
from contracts.session import SessionDischarged
from services.coaching import domain, outcomes
from services.coaching.api import CompleteTaskIn, CompletionOut, QueuedTask
from services.coaching.domain import CoachingRecord, UnknownTaskError
from services.coaching.rules import CoachingRules
from services.coaching.store import coach_loads, indexed, open_tasks_of
from services.runtime.aggregate import AggregateStore
from services.runtime.auth import ALL_SITES, Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.errors import NotFound
from services.runtime.logging import get_logger
from services.runtime.network import Network
from services.runtime.service import Service

log = get_logger(__name__)


class UnknownCoachError(NotFound):
    """No site of the network lists this coach."""


def event_routes(
    service: Service, store: AggregateStore[CoachingRecord], rules: CoachingRules, network: Network
) -> dict[Topic, Routes]:
    """The routing table: which events coaching consumes, from which topic, handled by what."""

    async def on_screening_scored(event: ScreeningScored) -> None:
        await store.apply(
            event.patient_id,
            lambda r: domain.decide_screening(r, event),
            event_id=str(event.event_id),
            indexed=indexed,
        )

    async def on_session_discharged(event: SessionDischarged) -> None:
        current = (await store.load(event.patient_id)).state
        site = network.site(event.site_id)
        needs_coach = current is None or current.coach_id is None
        loads = await coach_loads(store.collection, site.coaches if site and needs_coach else ())
        stamp = service.stamp_for(event)
        applied = await store.apply(
            event.patient_id,
            lambda r: domain.decide_discharge(r, event, loads, rules, stamp),
            event_id=str(event.event_id),
            indexed=indexed,
        )
        log.info(
            "follow_up_planned",
            patient_id=event.patient_id,
            duplicate=applied.duplicate,
            events=[e.event_type for e in applied.events],
        )

    return {
        Topic.INTAKE: {ScreeningScored: on_screening_scored},
        Topic.SESSION: {SessionDischarged: on_session_discharged},
    }


def queue_scope(principal: Principal, coach_id: str, network: Network) -> frozenset[str] | None:
    """Which sites' patients the caller may see in `coach_id`'s queue (None: every site).
    A coach sees only their own queue; a site admin or ops any coach of their sites."""
    if principal.role is Role.COACH:
        if coach_id != principal.subject:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "coaches see only their own queue")
        return None
    coach_sites = [s.site_id for s in network.sites if coach_id in s.coaches]
    if not coach_sites:
        raise UnknownCoachError(coach_id)
    if not any(principal.may_access(site) for site in coach_sites):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "coach works at none of your sites")
    return None if ALL_SITES in principal.sites else principal.sites


def routes(
    service: Service, store: AggregateStore[CoachingRecord], rules: CoachingRules, network: Network
) -> APIRouter:
    router = APIRouter(tags=["coaching"])

    @router.get("/coaches/{coach_id}/tasks")
    async def coach_tasks(
        coach_id: str,
        principal: Annotated[Principal, Depends(require(Role.COACH, Role.SITE_ADMIN, Role.OPS))],
    ) -> list[QueuedTask]:
        sites = queue_scope(principal, coach_id, network)
        return await open_tasks_of(store.collection, coach_id, sites, service.clock())

    @router.post("/patients/{patient_id}/tasks/{task_id}/complete")
    async def complete_task(
        patient_id: str,
        task_id: str,
        body: CompleteTaskIn,
        principal: Annotated[Principal, Depends(require(Role.COACH))],
    ) -> CompletionOut:
        record = (await store.load(patient_id)).state
        if record is None or not principal.may_access(record.site_id):
            raise UnknownTaskError(task_id)
        stamp, outcome = service.stamp(), body.outcome.to_domain()
        applied = await store.apply(
            patient_id,
            lambda r: outcomes.decide_completion(
                r, task_id, principal.subject, outcome, body.note, stamp, rules
            ),
            indexed=indexed,
        )
        assert applied.state is not None
        task = applied.state.tasks[task_id]
        log.info(
            "follow_up_task_completed", patient_id=patient_id, task_id=task_id, kind=task.kind.value
        )
        return CompletionOut(
            patient_id=patient_id,
            task_id=task_id,
            kind=task.kind,
            status=task.status.value,
            events=[e.event_type for e in applied.events],
        )

    return router
