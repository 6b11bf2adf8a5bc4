"""Clock-driven follow-up rules: a task past its due time is overdue; still open after the
grace period it is escalated to the site lead. Each fires once per task."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from contracts.coaching import FollowUpTaskOverdue
from contracts.envelope import EventBase, Stamp, stable_id
from services.coaching.domain import CoachingRecord, Task, UnknownPatientError
from services.coaching.rules import CoachingRules


def escalates_at(task: Task, rules: CoachingRules) -> datetime:
    """DESIGN: overdue tasks escalate (coach -> site lead) once the configured grace period
    (`escalation_grace_hours`, network policy) has passed since the due time."""
    return task.due_at + timedelta(hours=rules.escalation_grace_hours)


def next_sweep_at(record: CoachingRecord, rules: CoachingRules) -> datetime | None:
    """The earliest instant a sweep has something to fire for this patient (None: nothing),
    stored with the record so a sweep finds due patients with one indexed range query."""
    pending = [
        escalates_at(task, rules) if task.overdue_notified else task.due_at
        for task in record.open_tasks().values()
        if not task.escalated
    ]
    return min(pending, default=None)


def _overdue(
    record: CoachingRecord,
    task_id: str,
    task: Task,
    stamp: Stamp,
    *,
    escalated: bool,
    at: datetime,
    site_lead: str | None,
) -> FollowUpTaskOverdue:
    """The event id is `stable_id(task, rule)` and its time the instant the rule became true,
    so two sweepers that both fire produce one event (consumers drop the copy by id)."""
    rule = "escalated" if escalated else "overdue"
    envelope = {
        **stamp.envelope(record.patient_id, record.site_id),
        "event_id": stable_id(task_id, rule),
        "occurred_at": at,
        "correlation_id": task.correlation_id or stable_id(task_id),
        "causation_id": stable_id(task_id, "created"),
    }
    return FollowUpTaskOverdue(
        **envelope,
        task_id=task_id,
        kind=task.kind,
        coach_id=task.coach_id,
        escalated_to_site_lead=escalated,
        due_at=task.due_at,
        site_lead_id=site_lead if escalated else None,
    )


def decide_sweep(
    record: CoachingRecord | None,
    now: datetime,
    rules: CoachingRules,
    site_lead: str | None,
    stamp: Stamp,
) -> tuple[CoachingRecord, list[EventBase]]:
    """Re-check every open task under the aggregate lock: past due and not yet announced ⇒
    `FollowUpTaskOverdue`; past the grace period and not yet escalated ⇒ `FollowUpTaskOverdue`
    with `escalated_to_site_lead` (DESIGN: overdue tasks escalate coach -> site lead). A task
    completed meanwhile fires nothing."""
    if record is None:
        raise UnknownPatientError()
    updated = record.model_copy(deep=True)
    events: list[EventBase] = []
    for task_id, task in sorted(record.open_tasks().items(), key=lambda kv: kv[1].due_at):
        changes: dict[str, bool] = {}
        fire = partial(_overdue, record, task_id, task, stamp, site_lead=site_lead)
        if not task.overdue_notified and task.due_at < now:
            changes["overdue_notified"] = True
            events.append(fire(escalated=False, at=task.due_at))
        if not task.escalated and escalates_at(task, rules) < now:
            changes["escalated"] = True
            events.append(fire(escalated=True, at=escalates_at(task, rules)))
        if changes:
            updated.tasks[task_id] = task.model_copy(update=changes)
    return updated, events
