"""Read models derived from journey documents: site dashboard and coach queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.journey.domain import Journey

PHASES = (
    "referred",
    "screening",
    "awaiting_review",
    "approved",
    "declined",
    "preparation",
    "induction",
    "maintenance",
    "completed",
    "withdrawn",
)


def dashboard(
    site_id: str, journeys: Iterable[Journey], now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """Census by phase, today's dosing chairs, holds, no-shows, overdue tasks, forms, flags."""
    census: Counter[str] = Counter()
    today = now.astimezone(zone).date()
    chairs: list[dict[str, Any]] = []
    totals = Counter[str]()
    for j in journeys:
        census[j.phase] += 1
        totals["doses_held"] += j.doses_held
        totals["no_shows"] += j.no_shows
        totals["monitoring_forms_due"] += j.monitoring_forms_due
        totals["monitoring_forms_overdue"] += sum(j.forms_due.values())
        totals["monitoring_alerts"] += len(j.monitoring_alerts)
        totals["serious_adverse_events"] += j.serious_adverse_events
        totals["unsafe_doses"] += len(j.unsafe_doses)
        totals["escalated_risk_flags"] += len(j.escalated_risk_flags)
        totals["open_risk_flags"] += len(j.open_risk_flags)
        totals["open_tasks"] += len(j.open_tasks)
        totals["escalated_tasks"] += sum(t.escalated for t in j.open_tasks.values())
        totals["courses_blocked"] += j.course_blocked is not None
        totals["pending_proposals"] += len(j.pending_proposals)
        totals["overdue_tasks"] += sum(t.overdue or t.due_at < now for t in j.open_tasks.values())
        chairs += [
            {
                "patient_id": j.patient_id,
                "appointment_id": a.appointment_id,
                "starts_at": a.starts_at.isoformat(),
                "dose_number": a.dose_number,
                "status": a.status,
            }
            for a in j.appointments.values()
            if a.kind == "dosing" and a.starts_at.astimezone(zone).date() == today
        ]
    return {
        "site_id": site_id,
        "as_of": now.isoformat(),
        "census": {phase: census.get(phase, 0) for phase in PHASES},
        "patients": sum(census.values()),
        "todays_dosing": sorted(chairs, key=lambda c: c["starts_at"]),
        **{
            k: totals.get(k, 0)
            for k in (
                "doses_held",
                "no_shows",
                "open_tasks",
                "overdue_tasks",
                "escalated_tasks",
                "monitoring_forms_due",
                "monitoring_forms_overdue",
                "monitoring_alerts",
                "serious_adverse_events",
                "unsafe_doses",
                "open_risk_flags",
                "escalated_risk_flags",
                "courses_blocked",
                "pending_proposals",
            )
        },
    }


def coach_queue(coach_id: str, journeys: Iterable[Journey], now: datetime) -> list[dict[str, Any]]:
    """The coach's open tasks over all their patients, due soonest first, overdue marked."""
    tasks = [
        {
            "patient_id": j.patient_id,
            "task_id": t.task_id,
            "kind": t.kind,
            "due_at": t.due_at.isoformat(),
            "overdue": t.overdue or t.due_at < now,
            "escalated": t.escalated,
        }
        for j in journeys
        for t in j.open_tasks.values()
        if t.coach_id == coach_id
    ]
    return sorted(tasks, key=lambda t: t["due_at"])
