"""Journey's entry points: subscribers feeding the projection, the query API, ops routes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from contracts import Topic
from contracts.audit import AuditAction, AuditedResource
from services.journey import fhir, queries
from services.journey.domain import Journey
from services.journey.identity import IdentitySource, nobody
from services.journey.projections import Projections, as_dict
from services.journey.projections import content_hash as hash_of
from services.journey.rebuild import Progress, replay
from services.runtime.audit import audited
from services.runtime.auth import Principal, Role, require
from services.runtime.errors import invalid_field
from services.runtime.lag import consumer_lag
from services.runtime.network import Network
from services.runtime.refusals import NotFound
from services.runtime.service import Service

JOURNEY_READ = audited(AuditedResource.JOURNEY, AuditAction.READ)
"""Each read writes one audit entry (services/runtime/audit.py)."""
READERS = tuple(role for role in Role if role is not Role.PRIVACY_OFFICER)
PATIENT_FIELDS = ("phase", "protocol", "doses_given", "doses_planned", "coach_id")
SINCE = "Only resources changed after this ISO-8601 instant (with its offset): 2026-03-05T00:00:00Z"
Ops = Annotated[Principal, Depends(require(Role.OPS))]


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


class JourneyNotFound(NotFound):
    """No journey for this patient in the caller's scope."""


class CoachNotFound(NotFound):
    """No site of the network lists this coach."""


def may_read_queue(principal: Principal, coach_id: str, network: Network) -> None:
    """A coach reads only their own queue; other roles the queue of a coach who works at one
    of their sites (404 for a coach no site lists)."""
    if principal.role is Role.COACH:
        if principal.subject != coach_id:
            raise HTTPException(403, "coaches see only their own queue")
        return
    coach_sites = [s.site_id for s in network.sites if coach_id in s.coaches]
    if not coach_sites:
        raise CoachNotFound(coach_id)
    if not any(principal.may_access(site) for site in coach_sites):
        raise HTTPException(403, "coach works at none of your sites")


def since_of(value: str | None) -> datetime | None:
    """FHIR `_since` is an instant: an ISO-8601 date-time with its offset; anything else is a
    422 naming the parameter."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise invalid_field(("query", "_since"), "must be an ISO-8601 instant with its offset")
    return parsed


def view(journey: Journey) -> dict[str, Any]:
    shown = journey.model_dump(mode="json")
    nxt = journey.next_appointment
    shown["next_appointment"] = nxt.model_dump(mode="json") if nxt else None
    shown["appointments"] = sorted(shown["appointments"].values(), key=lambda a: a["starts_at"])
    shown["open_tasks"] = sorted(shown["open_tasks"].values(), key=lambda t: t["due_at"])
    return shown


def routes(
    service: Service,
    projections: Projections,
    network: Network,
    identity: IdentitySource = nobody,
) -> APIRouter:
    router = APIRouter(tags=["journey"])

    async def summaries(query: dict[str, Any], fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """Summaries matching an indexed query, only `fields` of them (journeys stay unread)."""
        cursor = (await projections.summaries()).find(query, dict.fromkeys(fields, 1))
        return [row async for row in cursor]

    def visible(principal: Principal, journey: Journey) -> bool:
        """Within the token's sites; a coach, only their own patients there."""
        if principal.role is Role.COACH and journey.coach_id != principal.subject:
            return False
        return principal.may_access(journey.site_id)

    async def readable(patient_id: str, principal: Principal) -> Journey:
        """The patient's journey if the caller may read it; else 404, as for no journey."""
        found = (await (await projections.active()).load(patient_id)).state
        if found is None or not visible(principal, found):
            raise JourneyNotFound(patient_id)
        return found

    @router.get("/patients/{patient_id}/journey", dependencies=[JOURNEY_READ])
    async def journey(
        patient_id: str, principal: Annotated[Principal, Depends(require(*READERS))]
    ) -> dict[str, Any]:
        return view(await readable(patient_id, principal))

    @router.get(
        "/patients/{patient_id}/fhir",
        response_class=FhirJSONResponse,
        dependencies=[JOURNEY_READ],
    )
    async def journey_fhir(
        patient_id: str,
        principal: Annotated[Principal, Depends(require(*READERS))],
        request: Request,
        since: Annotated[str | None, Query(alias="_since", description=SINCE)] = None,
    ) -> dict[str, Any]:
        """The journey as a FHIR R4B collection Bundle, read with the journey's own
        authorization; `_since` keeps what changed after that instant. The Patient carries
        identity when intake gives it to this caller, and is labelled pseudonymous otherwise."""
        after = since_of(since)
        found = await readable(patient_id, principal)
        bearer = request.headers.get("authorization", "")
        return fhir.bundle(found, after, await identity(patient_id, bearer))

    @router.get("/patients")
    async def patients(
        principal: Annotated[Principal, Depends(require(*READERS))],
        site_id: str,
        phase: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        """The site's patients (a coach: only the patients assigned to them there), by id."""
        principal.require_site(site_id)
        query: dict[str, Any] = {"site_id": site_id, **({"phase": phase} if phase else {})}
        if principal.role is Role.COACH:
            query["coach_id"] = principal.subject
        found = await projections.summaries()
        page = found.find(query, dict.fromkeys(PATIENT_FIELDS, 1)).sort("_id", 1)
        items = [row async for row in page.skip(offset).limit(limit)]
        return {
            "total": await found.count_documents(query),
            "offset": offset,
            "items": [{"patient_id": row["_id"], **{k: row.get(k) for k in PATIENT_FIELDS}}
                      for row in items],
        }  # fmt: skip

    @router.get("/sites/{site_id}/dashboard")
    async def site_dashboard(
        site_id: str,
        principal: Annotated[Principal, Depends(require(Role.SITE_ADMIN, Role.OPS, Role.NURSE,
                                                        Role.PSYCHIATRIST, Role.INTAKE_COORDINATOR,
                                                        Role.THERAPIST))],
    ) -> dict[str, Any]:  # fmt: skip
        site = network.site(site_id)
        if site is None:
            raise HTTPException(404, f"unknown site {site_id}")
        principal.require_site(site_id)
        now, found = service.clock(), await projections.summaries()
        phases = await (await found.aggregate(queries.by_phase(site_id))).to_list()
        late = await summaries({"site_id": site_id, "first_task_due": {"$lt": now}}, ("task_due",))
        days = {"$in": queries.days_of(now, site.zone)}
        dosing = await summaries({"site_id": site_id, "dosing_days": days}, ("dosing",))
        return queries.board(site_id, phases, late, dosing, now, site.zone)

    @router.get("/coaches/{coach_id}/queue")
    async def coach_queue(
        coach_id: str, principal: Annotated[Principal, Depends(require(*READERS))]
    ) -> dict[str, Any]:
        """The coach's open tasks over their patients of the token's sites."""
        may_read_queue(principal, coach_id, network)
        rows = await summaries({"coach_id": coach_id}, ("site_id", "coach_id", "tasks"))
        mine = [row for row in rows if principal.may_access(row["site_id"])]
        return {"coach_id": coach_id, "tasks": queries.queue_of(coach_id, mine, service.clock())}

    return router


def ops_routes(service: Service, projections: Projections) -> APIRouter:
    """Rebuild, projection state and consumer lag, for the ops role."""
    router = APIRouter(prefix="/admin", tags=["ops"])
    progress = Progress()
    running: set[asyncio.Task[None]] = set()

    @router.post("/rebuild", status_code=202)
    async def start_rebuild(_: Ops) -> dict[str, Any]:
        if progress.state == "running":
            raise HTTPException(409, "a rebuild is already running")
        task = asyncio.create_task(replay(projections, service.settings, progress))
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(0)
        return progress.view()

    @router.get("/rebuild")
    async def rebuild_progress(_: Ops) -> dict[str, Any]:
        return progress.view()

    @router.get("/projection")
    async def projection(_: Ops, content_hash: bool = False) -> dict[str, Any]:
        """The active generation and its size; `?content_hash=true` also hashes every journey
        (a full scan: for comparing a rebuild, not for polling)."""
        pointer = as_dict(await projections.pointer())
        active = await projections.active()
        if not content_hash:
            return {**pointer, "patients": await active.collection.count_documents({})}
        patients, digest = await hash_of(active)
        return {**pointer, "patients": patients, "content_hash": digest}

    @router.get("/lag")
    async def lag(_: Ops) -> dict[str, Any]:
        topics = [service.settings.kafka_topic_prefix + t for t in Topic]
        per_topic = await consumer_lag(service.settings, service.dead_letters.group, topics)
        return {
            "group": service.dead_letters.group,
            "lag": per_topic,
            "total": sum(per_topic.values()),
        }

    return router
