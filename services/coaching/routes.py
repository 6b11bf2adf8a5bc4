"""Coaching's HTTP routes: work queues, task completion, coach availability, integration
sessions. Each turns a request into a decision on one aggregate; notes are never logged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from contracts.audit import AuditAction, AuditedResource
from services.coaching import integration, outcomes
from services.coaching.api import (
    AvailabilityIn,
    AvailabilityOut,
    CompleteTaskIn,
    CompletionOut,
    IntegrationSessionIn,
    IntegrationSessionOut,
    MovedPatient,
    QueuedTask,
)
from services.coaching.domain import CoachingRecord, UnknownPatientError, UnknownTaskError
from services.coaching.store import open_tasks_at, open_tasks_of
from services.coaching.subscribers import Coaching
from services.runtime.audit import audit_patient, audited
from services.runtime.auth import ALL_SITES, Principal, Role, require
from services.runtime.commands import Commands
from services.runtime.logging import get_logger
from services.runtime.network import Network
from services.runtime.refusals import NotFound

TASKS_READ = audited(AuditedResource.COACHING_TASKS, AuditAction.READ)
"""Each read writes one audit entry per patient it shows (services/runtime/audit.py)."""

log = get_logger(__name__)


class UnknownCoachError(NotFound):
    """No site of the network lists this coach."""


class UnknownSiteError(NotFound):
    """No such site in the network."""


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def leads(principal: Principal, network: Network) -> frozenset[str]:
    """Sites whose lead the caller is: a coach token whose subject is the site's `site_lead`
    (network.yaml) and whose scope includes the site."""
    if principal.role is not Role.COACH:
        return frozenset()
    return frozenset(
        s.site_id
        for s in network.sites
        if s.site_lead == principal.subject and principal.may_access(s.site_id)
    )


def queue_scope(principal: Principal, coach_id: str, network: Network) -> frozenset[str] | None:
    """Which sites' patients the caller may see in `coach_id`'s queue (None: every site).
    A coach sees only their own queue; a site lead, site admin or ops any coach of their
    sites. Everyone sees only the sites of their token's scope."""
    scope = None if ALL_SITES in principal.sites else principal.sites
    if principal.role is Role.COACH and coach_id == principal.subject:
        return scope
    coach_sites = {s.site_id for s in network.sites if coach_id in s.coaches}
    if principal.role is Role.COACH:
        led = leads(principal, network) & coach_sites
        if not led:
            raise _forbidden("coaches see only their own queue")
        return led
    if not coach_sites:
        raise UnknownCoachError(coach_id)
    if not any(principal.may_access(site) for site in coach_sites):
        raise _forbidden("coach works at none of your sites")
    return scope


def site_scope(principal: Principal, site_id: str, network: Network) -> None:
    """The site view: its lead, or a site admin or ops with the site in scope."""
    if network.site(site_id) is None:
        raise UnknownSiteError(site_id)
    if principal.role is Role.COACH:
        if site_id not in leads(principal, network):
            raise _forbidden("only the site lead sees the whole site")
        return
    principal.require_site(site_id)


def in_site(principal: Principal, record: CoachingRecord) -> bool:
    return principal.may_access(record.site_id)


Reader = Annotated[Principal, Depends(require(Role.COACH, Role.SITE_ADMIN, Role.OPS))]


def routes(c: Coaching) -> APIRouter:
    router = APIRouter(tags=["coaching"])
    network, records = c.network, c.records

    @router.get(
        "/coaches/{coach_id}/tasks",
        dependencies=[TASKS_READ],
    )
    async def coach_tasks(request: Request, coach_id: str, principal: Reader) -> list[QueuedTask]:
        """The coach's open tasks, due soonest first, overdue and escalated marked."""
        sites = queue_scope(principal, coach_id, network)
        tasks = await open_tasks_of(records.collection, coach_id, sites, c.service.clock())
        audit_patient(request, *(t.patient_id for t in tasks))
        return tasks

    @router.get(
        "/sites/{site_id}/tasks",
        dependencies=[TASKS_READ],
    )
    async def site_tasks(
        request: Request,
        site_id: str,
        principal: Reader,
        escalated: Annotated[bool, Query()] = False,
    ) -> list[QueuedTask]:
        """Every open task at the site (the site lead's view); `escalated=true`: only those
        escalated to the lead."""
        site_scope(principal, site_id, network)
        tasks = await open_tasks_at(records.collection, site_id, c.service.clock())
        shown = [t for t in tasks if t.escalated] if escalated else tasks
        audit_patient(request, *(t.patient_id for t in shown))
        return shown

    @router.post("/patients/{patient_id}/tasks/{task_id}/complete")
    async def complete_task(
        patient_id: str,
        task_id: str,
        body: CompleteTaskIn,
        principal: Annotated[Principal, Depends(require(Role.COACH))],
    ) -> CompletionOut:
        stamp, outcome = c.service.stamp(), body.outcome.to_domain()
        tasks = Commands(records, lambda _: UnknownTaskError(task_id), in_site)
        applied = await tasks.change(
            patient_id,
            principal,
            lambda r: outcomes.decide_completion(
                r, task_id, principal.subject, outcome, body.note, stamp, c.rules,
                c.site_lead(r.site_id),
            ),
        )  # fmt: skip
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

    @router.put("/sites/{site_id}/coaches/{coach_id}/availability")
    async def set_availability(
        site_id: str,
        coach_id: str,
        body: AvailabilityIn,
        principal: Annotated[Principal, Depends(require(Role.SITE_ADMIN))],
    ) -> AvailabilityOut:
        """A coach is absent (optionally until a time), has left, or is available again; their
        patients at the site move to the least-loaded available coach with their open tasks."""
        site = network.site(site_id)
        if site is None or coach_id not in site.coaches:
            raise UnknownCoachError(coach_id)
        principal.require_site(site_id)
        state, moved = await c.set_availability(site_id, coach_id, body.status, body.until)
        return AvailabilityOut(
            site_id=site_id,
            coach_id=coach_id,
            status=state.status,
            until=state.until,
            moved=[
                MovedPatient(patient_id=p, coach_id=e.coach_id, task_ids=list(e.task_ids))
                for p, e in moved
            ],
        )

    @router.put("/patients/{patient_id}/integration-sessions/{integration_session_id}")
    async def record_integration_session(
        patient_id: str,
        integration_session_id: str,
        body: IntegrationSessionIn,
        principal: Annotated[Principal, Depends(require(Role.THERAPIST))],
    ) -> IntegrationSessionOut:
        """A therapist records an integration session as completed or missed (idempotent)."""
        stamp = c.service.stamp()
        command = body.to_command(integration_session_id, stamp.now)
        applied = await Commands(records, UnknownPatientError, in_site).change(
            patient_id,
            principal,
            lambda r: integration.decide_integration_session(
                r, command, principal.subject, stamp, c.rules
            ),
        )
        log.info(
            "integration_session_recorded",
            patient_id=patient_id,
            status=body.status,
            events=[e.event_type for e in applied.events],
        )
        return IntegrationSessionOut(
            patient_id=patient_id,
            integration_session_id=integration_session_id,
            status=body.status,
            events=[e.event_type for e in applied.events],
        )

    return router
