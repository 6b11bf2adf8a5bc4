"""Nurse — treatment day: dosing appointments at my sites, the session chart, live clocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from services.console.backend import Refusal
from services.console.pages import (  # fmt: skip
    backend,
    done,
    my_sites,
    observed_at,
    refused,
    render,
    screen_for,
    templates,
    zone_of,
)
from services.console.signin import Viewer, posted, viewer_of
from services.console.views import clocks
from services.runtime.auth import Role

router = APIRouter()
Signed = Annotated[Viewer, Depends(viewer_of)]
TREATING = {"approved", "preparation", "induction", "maintenance"}
DISCHARGE_CHECKS = (
    ("sedation_resolved", "Sedation resolved"),
    ("dissociation_resolved", "Dissociation resolved"),
    ("respiratory_ok", "Respiratory status normal"),
    ("vitals_acceptable", "Vitals acceptable"),
    ("transport_confirmed", "Transport home confirmed (no driving until tomorrow)"),
)


nurse_only = screen_for("nurses and prescribers", Role.NURSE, Role.PSYCHIATRIST)


def sessions_of(journey: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """appointment id -> its treatment day as the journey's timeline tells it."""
    found: dict[str, dict[str, Any]] = {}
    for entry in journey.get("timeline", []):
        facts = entry.get("facts", {})
        if entry["event_type"] == "PatientCheckedIn":
            found[facts["appointment_id"]] = {"session_id": facts["session_id"], "open": True}
        elif entry["event_type"] == "SessionDischarged":
            for day in found.values():
                if day["session_id"] == facts.get("session_id"):
                    day["open"] = False
    return found


async def dosing_days(request: Request, viewer: Viewer, site_id: str) -> list[dict[str, Any]]:
    api = backend(request)
    listed = await api.read("journey", "/patients", viewer.token, site_id=site_id, limit=200)
    ids = [p["patient_id"] for p in listed["items"] if p["phase"] in TREATING]
    journeys = await asyncio.gather(
        *(api.read("journey", f"/patients/{pid}/journey", viewer.token) for pid in ids)
    )
    days = []
    for journey in journeys:
        sessions = sessions_of(journey)
        for a in journey["appointments"]:
            if a["kind"] == "dosing" and a["status"] in ("booked", "completed"):
                days.append({**a, "patient_id": journey["patient_id"],
                             "protocol": journey["protocol"],
                             "interactions": journey["interactions"],
                             "session": sessions.get(a["appointment_id"])})  # fmt: skip
    return sorted(days, key=lambda d: d["starts_at"])


def next_per_patient(days: Iterable[dict[str, Any]], limit: int = 30) -> list[dict[str, Any]]:
    """Each patient's next booked dosing appointment only (the ones after it wait for it)."""
    seen: set[str] = set()
    shown = []
    for day in days:
        if day["patient_id"] not in seen:
            seen.add(day["patient_id"])
            shown.append(day)
    return shown[:limit]


@router.get("/nurse")
async def day(request: Request, viewer: Signed, site: str | None = None) -> Response:
    nurse_only(viewer)
    sites = my_sites(request, viewer)
    site_id = site if site in sites else (sites[0] if sites else None)
    if site_id is None:
        raise HTTPException(403, "No site in your scope.")
    zone = zone_of(request, site_id)
    today = datetime.now(zone).date().isoformat()
    days = await dosing_days(request, viewer, site_id)
    todays = [d for d in days if d["starts_at"][:10] <= today or (d["session"] or {}).get("open")]
    waiting = (d for d in days if d not in todays and d["status"] == "booked" and not d["session"])
    later = next_per_patient(waiting)
    return render(request, "nurse_day.html", viewer, site_id=site_id, sites=sites, zone=zone,
                  todays=todays, later=later)  # fmt: skip


@router.post("/nurse/patients/{patient_id}/check-in")
async def check_in(request: Request, patient_id: str) -> Response:
    viewer, form = await posted(request)
    nurse_only(viewer)
    zone = zone_of(request, str(form.get("site_id", "")))
    body = {"appointment_id": str(form.get("appointment_id", "")),
            "observed_at": observed_at(form.get("observed_at"), zone)}  # fmt: skip
    try:
        opened = await backend(request).send(
            "session", f"/patients/{patient_id}/sessions", viewer.token, body
        )
    except Refusal as refusal:
        return refused(request, viewer, refusal, "/nurse")
    return done(request, f"/nurse/patients/{patient_id}/sessions/{opened['session_id']}")


async def session_of(request: Request, viewer: Viewer, patient_id: str, session_id: str) -> Any:
    nurse_only(viewer)
    path = f"/patients/{patient_id}/sessions/{session_id}"
    return await backend(request).read("session", path, viewer.token)


@router.get("/nurse/patients/{patient_id}/sessions/{session_id}")
async def session(request: Request, patient_id: str, session_id: str, viewer: Signed) -> Response:
    day = await session_of(request, viewer, patient_id, session_id)
    return render(request, "nurse_session.html", viewer, day=day, patient_id=patient_id,
                  zone=zone_of(request, day["site_id"]), clock=clocks(day, datetime.now(UTC)),
                  checks=DISCHARGE_CHECKS, adverse_kinds=ADVERSE_EVENT_KINDS,
                  prescriber=viewer.principal.role is Role.PSYCHIATRIST,
                  high_last=day.get("reading_to_accept"))  # fmt: skip


def step_body(step: str, form: Any, zone: Any) -> dict[str, Any]:
    """The form's fields as the session API's body for that step (the API validates)."""
    at = {"observed_at": observed_at(form.get("observed_at"), zone)}
    number = {k: form.get(k) or None for k in ("systolic", "diastolic", "heart_rate", "spo2",
                                                "dose_mg", "devices", "weight_kg")}  # fmt: skip
    if step == "vitals":
        return {k: number[k] for k in ("systolic", "diastolic", "heart_rate", "spo2")} | at
    if step == "dose":
        return {"dose_mg": number["dose_mg"], "devices": number["devices"],
                "weight_kg": number["weight_kg"],
                "lot_number": str(form.get("lot_number") or ""), **at}  # fmt: skip
    if step == "discharge":
        return {k: form.get(k) == "on" for k, _ in DISCHARGE_CHECKS} | at
    if step in PRESCRIBER_STEPS:
        return {"reason": str(form.get("reason") or ""), **at}
    if step == "adverse-events":
        return {"kind": str(form.get("kind") or ""), "severity": str(form.get("severity") or ""),
                "serious": form.get("serious") == "on", **at}  # fmt: skip
    return at


PRESCRIBER_STEPS = {"dose-hold/override", "discharge-blood-pressure/accept"}
"""A prescriber's decisions on the chart: override a BP hold, accept a high last reading for
discharge (the session API admits psychiatrists only; a nurse sees its refusal)."""
STEPS = {"vitals", "dose", "discharge", "interactions/acknowledge", "adverse-events"}
STEPS |= PRESCRIBER_STEPS
ADVERSE_EVENT_KINDS = (
    "hypertension",
    "dissociation",
    "sedation",
    "nausea",
    "vomiting",
    "dizziness",
    "headache",
    "anxiety",
    "respiratory_depression",
)
"""Coded terms the session API accepts (`^[a-z][a-z0-9_]*$`), never free text."""


@router.post("/nurse/patients/{patient_id}/sessions/{session_id}/{step:path}")
async def chart(request: Request, patient_id: str, session_id: str, step: str) -> Response:
    viewer, form = await posted(request)
    nurse_only(viewer)
    if step not in STEPS:
        raise HTTPException(404, "No such step.")
    here = f"/nurse/patients/{patient_id}/sessions/{session_id}"
    body = step_body(step, form, zone_of(request, str(form.get("site_id", ""))))
    try:
        await backend(request).send("session", f"/patients/{patient_id}/sessions/{session_id}/"
                                    f"{step}", viewer.token, body)  # fmt: skip
    except Refusal as refusal:
        return refused(request, viewer, refusal, here)
    return done(request, here)


@router.get("/nurse/patients/{patient_id}/sessions/{session_id}/clocks")
async def live_clocks(request: Request, patient_id: str, session_id: str,
                      viewer: Signed) -> StreamingResponse:  # fmt: skip
    """Server-Sent Events: the clocks fragment, re-read from the session API every few
    seconds with the nurse's token, until the page goes away or the day is discharged."""
    nurse_only(viewer)
    interval: float = request.app.state.settings.console_sse_interval_s

    async def stream() -> AsyncIterator[str]:
        while not await request.is_disconnected():
            try:
                day = await session_of(request, viewer, patient_id, session_id)
            except (Refusal, HTTPException):
                yield "event: clocks\ndata: <p>The session could not be read.</p>\n\n"
                return
            html = templates.get_template("_clocks.html").render(
                clock=clocks(day, datetime.now(UTC))
            )
            yield "event: clocks\ndata: " + html.replace("\n", "") + "\n\n"
            if day.get("discharge"):
                return
            await asyncio.sleep(interval)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})  # fmt: skip
