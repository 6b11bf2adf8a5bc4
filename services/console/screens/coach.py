"""Coach — my queue: open follow-up tasks, a task's check-in form, the PHQ-9 trajectory."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from services.console.backend import Refusal
from services.console.pages import backend, done, refused, render, screen_for
from services.console.signin import Viewer, posted, viewer_of
from services.console.views import phq9_chart
from services.runtime.auth import Role

router = APIRouter()
Signed = Annotated[Viewer, Depends(viewer_of)]
PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure",
    "Trouble concentrating on things",
    "Moving or speaking slowly, or being fidgety or restless",
    "Thoughts that you would be better off dead, or of hurting yourself",
)
ANSWERS = ("Not at all", "Several days", "More than half the days", "Nearly every day")


coach_only = screen_for("coaches", Role.COACH)


@router.get("/coach")
async def queue(request: Request, viewer: Signed) -> Response:
    coach_only(viewer)
    me = viewer.principal.subject
    tasks = await backend(request).read("coaching", f"/coaches/{me}/tasks", viewer.token)
    return render(request, "coach_queue.html", viewer, tasks=tasks)


async def patient_view(request: Request, viewer: Viewer, patient_id: str) -> dict[str, Any]:
    """The journey as the coach may read it: the journey service answers 404 for a patient
    who is not theirs, and so does this page."""
    coach_only(viewer)
    journey: dict[str, Any] = await backend(request).read(
        "journey", f"/patients/{patient_id}/journey", viewer.token
    )
    return journey


@router.get("/coach/patients/{patient_id}")
async def patient(request: Request, patient_id: str, viewer: Signed) -> Response:
    journey = await patient_view(request, viewer, patient_id)
    return render(request, "coach_patient.html", viewer, journey=journey,
                  chart=phq9_chart(journey["phq9"]), task=None)  # fmt: skip


@router.get("/coach/patients/{patient_id}/tasks/{task_id}")
async def task(request: Request, patient_id: str, task_id: str, viewer: Signed) -> Response:
    journey = await patient_view(request, viewer, patient_id)
    found = next((t for t in journey["open_tasks"] if t["task_id"] == task_id), None)
    if found is None:
        raise HTTPException(404, "No such open task for this patient.")
    return render(request, "coach_patient.html", viewer, journey=journey, task=found,
                  chart=phq9_chart(journey["phq9"]), items=PHQ9_ITEMS,
                  answers=ANSWERS)  # fmt: skip


def outcome_of(form: Any, kind: str) -> dict[str, Any]:
    answers = [form.get(f"q{i}") for i in range(1, 10)]
    outcome: dict[str, Any] = {}
    if kind == "phq9" or any(a not in (None, "") for a in answers):
        outcome["phq9"] = [int(a) if str(a or "").isdigit() else a for a in answers]
    return outcome


@router.post("/coach/patients/{patient_id}/tasks/{task_id}/complete")
async def complete(request: Request, patient_id: str, task_id: str) -> Response:
    viewer, form = await posted(request)
    coach_only(viewer)
    here = f"/coach/patients/{patient_id}/tasks/{task_id}"
    body: dict[str, Any] = {"outcome": outcome_of(form, str(form.get("kind", "")))}
    note = str(form.get("note") or "").strip()
    if note:
        body["note"] = note
    try:
        await backend(request).send(
            "coaching", f"/patients/{patient_id}/tasks/{task_id}/complete", viewer.token, body
        )
    except Refusal as refusal:
        return refused(request, viewer, refusal, here)
    return done(request, f"/coach/patients/{patient_id}?completed={task_id}")
