"""Read models of the journey projection: a compact summary per patient, and the site
dashboard and coach queue computed from summaries, never from journeys.

Each journey commit writes its patient's summary (`summary_of`). A dashboard is then one
`$group` by phase with `$sum`s over the site's summaries (the subset DESIGN allows on both
FerretDB and MongoDB), plus two indexed reads that return only the patients with a task past
due (`first_task_due`) or a dosing appointment on the day (`dosing_days`); a coach queue is an
indexed read of the coach's patients' summaries.

FerretDB 1.24 computes only the first accumulator of a `$group` (the others come back 0) and
matches `$elemMatch` ranges on date arrays wrongly (both found by probing the dev database), so
the census groups by phase *and* every counter with one `$sum: 1` (rows are the distinct
combinations, few even at large sites), and dosing days are kept as date strings matched by
equality. `dashboard` and `coach_queue` give the same
answers from journeys held in memory (the reference the read path is tested against).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.journey.models import Journey

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

COUNTED = (
    "doses_held",
    "no_shows",
    "open_tasks",
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
    "overdue_flagged",
)
"""Per-patient numbers a dashboard sums over a site."""

SUMMARY_INDEXES = ("site_id", "phase", "coach_id", "first_task_due", "dosing_days")

Row = dict[str, Any]


def summary_of(j: Journey) -> Row:
    """What the site dashboard, the coach queue and the patient list need of one journey.
    `timeline_length` only grows, so it orders two writes of the same summary."""
    tasks = sorted(j.open_tasks.values(), key=lambda t: t.due_at)
    dosing = sorted((a for a in j.appointments.values() if a.kind == "dosing"),
                    key=lambda a: a.starts_at)  # fmt: skip
    counts = {
        "doses_held": j.doses_held,
        "no_shows": j.no_shows,
        "open_tasks": len(tasks),
        "escalated_tasks": sum(t.escalated for t in tasks),
        "monitoring_forms_due": j.monitoring_forms_due,
        "monitoring_forms_overdue": sum(j.forms_due.values()),
        "monitoring_alerts": len(j.monitoring_alerts),
        "serious_adverse_events": j.serious_adverse_events,
        "unsafe_doses": len(j.unsafe_doses),
        "open_risk_flags": len(j.open_risk_flags),
        "escalated_risk_flags": len(j.escalated_risk_flags),
        "courses_blocked": int(j.course_blocked is not None),
        "pending_proposals": len(j.pending_proposals),
        "overdue_flagged": sum(t.overdue for t in tasks),
    }
    return {
        "_id": j.patient_id,
        "timeline_length": len(j.timeline),
        "site_id": j.site_id,
        "phase": j.phase,
        "coach_id": j.coach_id,
        "protocol": j.protocol,
        "doses_given": j.doses_given,
        "doses_planned": j.doses_planned,
        **counts,
        "task_due": [t.due_at for t in tasks if not t.overdue],
        "first_task_due": min((t.due_at for t in tasks if not t.overdue), default=None),
        "tasks": [t.model_dump() for t in tasks],
        "dosing_days": sorted({utc_day(a.starts_at) for a in dosing}),
        "dosing": [a.model_dump() for a in dosing],
    }


def utc_day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def by_phase(site_id: str) -> list[Row]:
    """The aggregation pipeline of a site's census and totals: patients counted by phase and
    counter values (one accumulator; see the module note)."""
    key = {"phase": "$phase", **{field: f"${field}" for field in COUNTED}}
    return [{"$match": {"site_id": site_id}},
            {"$group": {"_id": key, "patients": {"$sum": 1}}}]  # fmt: skip


def days_of(now: datetime, zone: ZoneInfo) -> list[str]:
    """The UTC dates the site's local day touches (rows are filtered to the day after)."""
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return sorted({utc_day(start), utc_day(start + timedelta(hours=23, minutes=59))})


def board(
    site_id: str,
    phases: Iterable[Row],
    past_due: Iterable[Row],
    dosing: Iterable[Row],
    now: datetime,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Census by phase, today's dosing chairs, holds, no-shows, overdue tasks, forms, flags:
    from the `$group` rows, the summaries with a task past due and those dosing about today."""
    census: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for row in phases:
        patients, values = int(row["patients"]), row["_id"]
        census[str(values["phase"])] += patients
        totals.update({field: int(values.get(field) or 0) * patients for field in COUNTED})
    totals["overdue_tasks"] = totals.pop("overdue_flagged", 0) + sum(
        sum(due < now for due in row["task_due"]) for row in past_due
    )
    today = now.astimezone(zone).date()
    chairs = [
        {"patient_id": row["_id"], "appointment_id": a["appointment_id"],
         "starts_at": a["starts_at"].isoformat(), "dose_number": a["dose_number"],
         "status": a["status"]}
        for row in dosing
        for a in row["dosing"]
        if a["starts_at"].astimezone(zone).date() == today
    ]  # fmt: skip
    return {
        "site_id": site_id,
        "as_of": now.isoformat(),
        "census": {phase: census.get(phase, 0) for phase in PHASES},
        "patients": sum(census.values()),
        "todays_dosing": sorted(chairs, key=lambda c: c["starts_at"]),
        "overdue_tasks": totals["overdue_tasks"],
        **{field: totals.get(field, 0) for field in COUNTED if field != "overdue_flagged"},
    }


def group_by_phase(summaries: Iterable[Row]) -> list[Row]:
    """What the `by_phase` pipeline returns, computed in memory."""
    rows: Counter[tuple[Any, ...]] = Counter()
    for s in summaries:
        rows[(s["phase"], *(s[field] for field in COUNTED))] += 1
    return [{"_id": dict(zip(("phase", *COUNTED), key, strict=True)), "patients": n}
            for key, n in rows.items()]  # fmt: skip


def dashboard(
    site_id: str, journeys: Iterable[Journey], now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """The dashboard of journeys held in memory, through the same summaries."""
    rows = [summary_of(j) for j in journeys if j.site_id == site_id]
    return board(site_id, group_by_phase(rows), rows, rows, now, zone)


def queue_of(coach_id: str, summaries: Iterable[Row], now: datetime) -> list[dict[str, Any]]:
    """The coach's open tasks over the given patients' summaries, due soonest first."""
    tasks = [
        {
            "patient_id": s["_id"],
            "task_id": t["task_id"],
            "kind": t["kind"],
            "due_at": t["due_at"].isoformat(),
            "overdue": t["overdue"] or t["due_at"] < now,
            "escalated": t["escalated"],
        }
        for s in summaries
        for t in s["tasks"]
        if t["coach_id"] == coach_id
    ]
    return sorted(tasks, key=lambda t: t["due_at"])


def coach_queue(coach_id: str, journeys: Iterable[Journey], now: datetime) -> list[dict[str, Any]]:
    """The coach's open tasks over all their patients, due soonest first, overdue marked."""
    return queue_of(coach_id, (summary_of(j) for j in journeys), now)
