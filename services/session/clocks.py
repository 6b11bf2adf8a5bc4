"""Monitoring clocks: the 40-minute BP recheck and the REMS form's 7-day deadline.

A sweep asks `due_at` which records may have a clock to fire, then `decide_clocks` re-checks
each under the aggregate lock and fires it once. Fired events carry `stable_id(session_id,
clock)` as their id and the due time as occurred_at, so two sweepers that both fire produce
the same event and consumers keep one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from contracts.envelope import EventBase, stable_id
from contracts.session import MonitoringCheckOverdue, MonitoringFormOverdue
from services.session.chart import Alert, Session
from services.session.domain import BP_RECHECK
from services.session.record import TreatmentRecord
from services.session.rules import SessionRules

FORM_OVERDUE = "rems_form_overdue"


def bp_recheck_overdue_at(session: Session, rules: SessionRules) -> datetime | None:
    """Spravato label: recheck BP ~40 min after the dose. A post-dose reading from 30 min on
    (configurable) counts; without one the recheck is overdue at 40 + 15 min (grace). None
    once the check was charted or its alert already fired."""
    if session.dose is None or session.alert(BP_RECHECK) is not None:
        return None
    earliest = rules.bp_recheck_min - rules.bp_recheck_early_min
    charted = any(
        r.minutes_since_dose is not None and r.minutes_since_dose >= earliest
        for r in session.vitals
    )
    if charted:
        return None
    return session.dose.administered_at + timedelta(
        minutes=rules.bp_recheck_min + rules.bp_recheck_grace_min
    )


def form_overdue_at(session: Session) -> datetime | None:
    """Spravato REMS: the Patient Monitoring Form is due within 7 days of the dose."""
    form = session.monitoring_form
    if form is None or form.submitted_at is not None or session.alert(FORM_OVERDUE) is not None:
        return None
    return form.due_by


def pending(
    record: TreatmentRecord, rules: SessionRules
) -> Iterator[tuple[Session, str, datetime]]:
    for session in record.sessions.values():
        for clock, at in (
            (BP_RECHECK, bp_recheck_overdue_at(session, rules)),
            (FORM_OVERDUE, form_overdue_at(session)),
        ):
            if at is not None:
                yield session, clock, at


def clock_index(record: TreatmentRecord, rules: SessionRules) -> dict[str, Any]:
    """Top-level fields the sweep queries: whether any clock is pending, and the earliest."""
    times = [at for _, _, at in pending(record, rules)]
    return {
        "clocks_pending": bool(times),
        "clock_due_at": min(times) if times else None,
    }


def _envelope(record: TreatmentRecord, session: Session, clock: str, at: datetime) -> Any:
    """Deterministic: the same clock fired by two sweepers yields the very same event."""
    return {
        "event_id": stable_id(session.session_id, clock),
        "occurred_at": at,
        "patient_id": record.patient_id,
        "site_id": session.site_id,
        "correlation_id": session.correlation_id or stable_id(session.session_id),
        "causation_id": None,
        "producer": "session",
    }


def decide_clocks(
    record: TreatmentRecord, now: datetime, rules: SessionRules
) -> tuple[TreatmentRecord, list[EventBase]]:
    """Fire every clock due at `now`: an overdue event plus an alert on the session view,
    which a later recheck (BP) or the submission (form) resolves."""
    due = [(s, clock, at) for s, clock, at in pending(record, rules) if at <= now]
    if not due:
        return record, []
    updated = record.model_copy(deep=True)
    events: list[EventBase] = []
    for session, clock, at in due:
        updated.sessions[session.session_id].alerts.append(Alert(kind=clock, due_at=at))
        head = _envelope(record, session, clock, at)
        if clock == BP_RECHECK:
            events.append(
                MonitoringCheckOverdue(
                    **head, session_id=session.session_id, check="bp_40min", due_at=at
                )
            )
        else:
            events.append(MonitoringFormOverdue(**head, session_id=session.session_id, due_by=at))
            form = updated.sessions[session.session_id].monitoring_form
            if form is not None:
                form.overdue = True
    return updated, events
