"""Site lead / ops — dashboard: census, chairs, holds, tasks, forms, flags; patients; journeys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from services.console.backend import Refusal
from services.console.pages import backend, my_sites, render, screen_for, zone_of
from services.console.signin import Viewer, viewer_of
from services.runtime.auth import Role

router = APIRouter()
Signed = Annotated[Viewer, Depends(viewer_of)]
PHASES = ("referred", "screening", "awaiting_review", "approved", "declined", "preparation",
          "induction", "maintenance", "completed", "withdrawn")  # fmt: skip


lead_only = screen_for("site leads and ops", Role.SITE_ADMIN, Role.OPS)


@router.get("/site")
async def dashboard(request: Request, viewer: Signed, site: str | None = None,
                    phase: str | None = None) -> Response:  # fmt: skip
    lead_only(viewer)
    sites = my_sites(request, viewer)
    site_id = site if site in sites else (sites[0] if sites else None)
    if site_id is None:
        raise HTTPException(403, "No site in your scope.")
    api = backend(request)
    board = await api.read("journey", f"/sites/{site_id}/dashboard", viewer.token)
    params = {"site_id": site_id, "limit": 200, **({"phase": phase} if phase in PHASES else {})}
    patients = await api.read("journey", "/patients", viewer.token, **params)
    try:
        escalated = await api.read("coaching", f"/sites/{site_id}/tasks", viewer.token)
    except Refusal:
        escalated = None
    return render(request, "site_dashboard.html", viewer, board=board, site_id=site_id,
                  sites=sites, patients=patients, phase=phase, phases=PHASES,
                  tasks=escalated, zone=zone_of(request, site_id))  # fmt: skip


@router.get("/site/patients/{patient_id}")
async def journey(request: Request, patient_id: str, viewer: Signed) -> Response:
    lead_only(viewer)
    found = await backend(request).read("journey", f"/patients/{patient_id}/journey", viewer.token)
    return render(request, "site_journey.html", viewer, journey=found,
                  zone=zone_of(request, found["site_id"]))  # fmt: skip
