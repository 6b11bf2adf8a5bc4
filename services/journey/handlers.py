"""Journey's entry points: one subscriber per topic feeding the projection, and the query API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from contracts import EVENT_TYPES, EventBase
from services.journey import domain, queries
from services.journey.domain import Journey
from services.runtime.aggregate import AggregateStore
from services.runtime.auth import Principal, Role, require
from services.runtime.consumer import Routes
from services.runtime.errors import NotFound
from services.runtime.network import Network
from services.runtime.service import Service

READERS = tuple(Role)


class JourneyNotFound(NotFound):
    """No journey for this patient in the caller's scope."""


def event_routes(store: AggregateStore[Journey]) -> Routes:
    async def on_event(event: EventBase) -> None:
        await store.apply(
            event.patient_id,
            lambda journey: (domain.add(journey, event.patient_id, event), []),
            event_id=str(event.event_id),
            indexed=domain.indexed,
        )

    return {cls: on_event for cls in EVENT_TYPES.values()}


def view(journey: Journey) -> dict[str, Any]:
    shown = journey.model_dump(mode="json")
    nxt = journey.next_appointment
    shown["next_appointment"] = nxt.model_dump(mode="json") if nxt else None
    shown["appointments"] = sorted(shown["appointments"].values(), key=lambda a: a["starts_at"])
    shown["open_tasks"] = sorted(shown["open_tasks"].values(), key=lambda t: t["due_at"])
    return shown


def routes(service: Service, store: AggregateStore[Journey], network: Network) -> APIRouter:
    router = APIRouter(tags=["journey"])
    collection = store.collection

    async def journeys(query: dict[str, Any], limit: int = 0, skip: int = 0) -> list[Journey]:
        cursor = collection.find(query, {"state": 1}).sort("_id", 1).skip(skip).limit(limit)
        return [Journey.model_validate(doc["state"]) async for doc in cursor]

    def visible(principal: Principal, journey: Journey) -> bool:
        if principal.role is Role.COACH:
            return journey.coach_id == principal.subject
        return principal.may_access(journey.site_id)

    @router.get("/patients/{patient_id}/journey")
    async def journey(
        patient_id: str, principal: Annotated[Principal, Depends(require(*READERS))]
    ) -> dict[str, Any]:
        found = (await store.load(patient_id)).state
        if found is None or not visible(principal, found):
            raise JourneyNotFound(patient_id)
        return view(found)

    @router.get("/patients")
    async def patients(
        principal: Annotated[Principal, Depends(require(*READERS))],
        site_id: str,
        phase: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        principal.require_site(site_id)
        query: dict[str, Any] = {"site_id": site_id, **({"phase": phase} if phase else {})}
        page = await journeys(query, limit, offset)
        return {
            "total": await collection.count_documents(query),
            "offset": offset,
            "items": [
                {
                    "patient_id": j.patient_id,
                    "phase": j.phase,
                    "protocol": j.protocol,
                    "doses_given": j.doses_given,
                    "doses_planned": j.doses_planned,
                    "coach_id": j.coach_id,
                }
                for j in page
            ],
        }

    @router.get("/sites/{site_id}/dashboard")
    async def site_dashboard(
        site_id: str,
        principal: Annotated[
            Principal,
            Depends(
                require(
                    Role.SITE_ADMIN,
                    Role.OPS,
                    Role.NURSE,
                    Role.PSYCHIATRIST,
                    Role.INTAKE_COORDINATOR,
                    Role.THERAPIST,
                )
            ),
        ],
    ) -> dict[str, Any]:
        site = network.site(site_id)
        if site is None:
            raise HTTPException(404, f"unknown site {site_id}")
        principal.require_site(site_id)
        found = await journeys({"site_id": site_id})
        return queries.dashboard(site_id, found, service.clock(), site.zone)

    @router.get("/coaches/{coach_id}/queue")
    async def coach_queue(
        coach_id: str, principal: Annotated[Principal, Depends(require(*READERS))]
    ) -> dict[str, Any]:
        if principal.role is Role.COACH and principal.subject != coach_id:
            raise HTTPException(403, "coaches see only their own queue")
        found = [j for j in await journeys({"coach_id": coach_id}) if visible(principal, j)]
        return {
            "coach_id": coach_id,
            "tasks": queries.coach_queue(coach_id, found, service.clock()),
        }

    return router
