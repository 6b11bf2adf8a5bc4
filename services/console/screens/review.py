"""Psychiatrist — review queue: patients awaiting review, their scores and flags, the decision."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.backend import Refusal
from services.console.pages import backend, done, my_sites, refused, render, screen_for
from services.console.signin import Viewer, posted, viewer_of
from services.runtime.auth import Role

router = APIRouter()
Signed = Annotated[Viewer, Depends(viewer_of)]
PROTOCOLS = (
    ("esketamine_trd", "Esketamine nasal spray (Spravato, TRD)"),
    ("iv_ketamine_series", "IV ketamine series"),
    ("im_ketamine", "IM ketamine"),
    ("sublingual_lozenge", "Sublingual lozenge"),
    ("low_dose_kap", "Low-dose KAP"),
)


prescriber_only = screen_for("psychiatrists", Role.PSYCHIATRIST)


@router.get("/review")
async def queue(request: Request, viewer: Signed) -> Response:
    prescriber_only(viewer)
    api = backend(request)
    pages = await asyncio.gather(*(
        api.read("journey", "/patients", viewer.token, site_id=site, phase="awaiting_review",
                 limit=200)
        for site in my_sites(request, viewer)
    ))  # fmt: skip
    waiting = [p for page in pages for p in page["items"]]
    records = await asyncio.gather(
        *(api.read("intake", f"/patients/{p['patient_id']}", viewer.token) for p in waiting)
    )
    return render(request, "review_queue.html", viewer, records=records)


@router.get("/review/patients/{patient_id}")
async def patient(request: Request, patient_id: str, viewer: Signed) -> Response:
    prescriber_only(viewer)
    record = await backend(request).read("intake", f"/patients/{patient_id}", viewer.token)
    return render(request, "review_patient.html", viewer, record=record, protocols=PROTOCOLS)


async def command(request: Request, patient_id: str, path: str, body: dict[str, Any]) -> Response:
    viewer, _ = await posted(request)
    prescriber_only(viewer)
    here = f"/review/patients/{patient_id}"
    try:
        await backend(request).send("intake", f"/patients/{patient_id}{path}", viewer.token, body)
    except Refusal as refusal:
        return refused(request, viewer, refusal, here)
    return done(request, here)


@router.post("/review/patients/{patient_id}/flags/{flag_id}/acknowledge")
async def acknowledge(request: Request, patient_id: str, flag_id: str) -> Response:
    form = await request.form()
    body = {"note": str(form.get("note") or "")}
    return await command(request, patient_id, f"/risk-flags/{flag_id}/acknowledge", body)


@router.post("/review/patients/{patient_id}/contraindications/{kind}/override")
async def override(request: Request, patient_id: str, kind: str) -> Response:
    form = await request.form()
    body = {"reason": str(form.get("reason") or "")}
    return await command(request, patient_id, f"/contraindications/{kind}/override", body)


@router.post("/review/patients/{patient_id}/eligibility")
async def decide(request: Request, patient_id: str) -> Response:
    form = await request.form()
    decision = str(form.get("decision") or "")
    body: dict[str, Any] = {"decision": decision}
    if decision == "approved":
        body["protocol"] = str(form.get("protocol") or "") or None
        body["planned_doses"] = form.get("planned_doses") or None
    return await command(request, patient_id, "/eligibility", body)
