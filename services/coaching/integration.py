"""Integration sessions recorded by therapists: a held session closes the booking task, a
missed one renews the booking request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.coaching import FollowUpTaskCompleted, IntegrationSessionRecorded
from contracts.envelope import EventBase, Stamp, stable_id
from contracts.vocabulary import TaskKind
from services.coaching.domain import (
    CoachingError,
    CoachingRecord,
    IntegrationSession,
    Task,
    TaskStatus,
    UnknownPatientError,
    new_task,
)
from services.coaching.rules import CoachingRules
from services.runtime.refusals import InvalidValue


class IntegrationSessionAlreadyRecordedError(CoachingError):
    """An integration session is recorded once; this id already has a different record."""


class IntegrationSessionInFutureError(CoachingError, InvalidValue):
    """An integration session is recorded after it was held, not before."""


class IntegrationSessionBeforeDoseError(CoachingError, InvalidValue):
    """DESIGN safety invariant 1 (facts in order): an integration session follows the dose it
    integrates, so its held_at never precedes the dosed_at of that treatment day."""

    def __init__(self, held_at: datetime, dosed_at: datetime) -> None:
        held, dosed = held_at.isoformat(), dosed_at.isoformat()
        reason = f"held_at {held} precedes the dose at {dosed} it integrates"
        super().__init__(reason)
        self.reasons = [reason]


@dataclass(frozen=True)
class RecordIntegrationSession:
    integration_session_id: str
    status: Literal["completed", "missed"]
    held_at: datetime
    session_id: str | None = None
    note: str | None = None


def decide_integration_session(
    record: CoachingRecord | None,
    command: RecordIntegrationSession,
    therapist_id: str,
    stamp: Stamp,
    rules: CoachingRules,
) -> tuple[CoachingRecord, list[EventBase]]:
    """DESIGN journey step 5: integration sessions with the mental-health team follow treatment
    days. Either way the session was booked, so the open integration-booking task(s) of its
    treatment session (all open ones when it names none) are fulfilled; a missed session leaves
    the patient without integration, so a new booking task and `IntegrationBookingRequested`
    are due within `integration_rebook_within_hours`. The same record sent twice changes
    nothing."""
    if record is None:
        raise UnknownPatientError()
    if command.held_at > stamp.now:
        raise IntegrationSessionInFutureError(command.integration_session_id)
    known = record.integration_sessions.get(command.integration_session_id)
    if known is not None:
        if (known.status, known.session_id) == (command.status, command.session_id):
            return record, []
        raise IntegrationSessionAlreadyRecordedError(command.integration_session_id)
    _held_after_the_doses(record, command)
    updated = record.model_copy(deep=True)
    updated.integration_sessions[command.integration_session_id] = IntegrationSession(
        status=command.status,
        therapist_id=therapist_id,
        held_at=command.held_at,
        session_id=command.session_id,
        note=command.note,
    )
    events: list[EventBase] = [
        IntegrationSessionRecorded(
            **stamp.envelope(record.patient_id, record.site_id),
            integration_session_id=command.integration_session_id,
            status=command.status,
            therapist_id=therapist_id,
            held_at=command.held_at,
            session_id=command.session_id,
        )
    ]
    events += _close_bookings(updated, command, therapist_id, stamp)
    if command.status == "missed" and updated.coach_id is not None:
        task_id = str(stable_id(command.integration_session_id, "rebook"))
        session_id = command.session_id or _latest_session(record)
        task = Task(
            kind=TaskKind.INTEGRATION_BOOKING,
            coach_id=updated.coach_id,
            due_at=stamp.now + timedelta(hours=rules.integration_rebook_within_hours),
            session_id=session_id,
            appointment_id=_appointment_of(record, session_id),
            correlation_id=stamp.correlation_id,
        )
        events += new_task(updated, task_id, task, stamp)
    return updated, events


def _held_after_the_doses(record: CoachingRecord, command: RecordIntegrationSession) -> None:
    """The session integrates the treatment day it names or, naming none, those whose booking
    tasks it fulfils; it is held after each of their doses that coaching learnt the time of."""
    integrated = {command.session_id} if command.session_id else {
        t.session_id for t in record.open_tasks().values()
        if t.kind is TaskKind.INTEGRATION_BOOKING and t.session_id
    }  # fmt: skip
    doses = [record.doses[s] for s in integrated if s in record.doses]
    if doses and command.held_at < max(doses):
        raise IntegrationSessionBeforeDoseError(command.held_at, max(doses))


def _appointment_of(record: CoachingRecord, session_id: str | None) -> str | None:
    """The dosing appointment behind a treatment session, as its discharge reported it."""
    return next(
        (t.appointment_id for t in record.tasks.values()
         if t.session_id == session_id and t.appointment_id),
        None,
    )  # fmt: skip


def _latest_session(record: CoachingRecord) -> str | None:
    """The treatment session of the latest follow-up plan: what a rebooking integrates."""
    planned = [t for t in record.tasks.values() if t.session_id is not None]
    return max(planned, key=lambda t: t.due_at).session_id if planned else None


def _close_bookings(
    record: CoachingRecord, command: RecordIntegrationSession, therapist_id: str, stamp: Stamp
) -> list[EventBase]:
    events: list[EventBase] = []
    for task_id, task in sorted(record.open_tasks().items()):
        if task.kind is not TaskKind.INTEGRATION_BOOKING:
            continue
        if command.session_id is not None and task.session_id != command.session_id:
            continue
        record.tasks[task_id] = task.model_copy(
            update={
                "status": TaskStatus.COMPLETED,
                "completed_at": stamp.now,
                "completed_by": therapist_id,
            }
        )
        events.append(
            FollowUpTaskCompleted(
                **stamp.envelope(record.patient_id, record.site_id),
                task_id=task_id,
                kind=task.kind,
                coach_id=task.coach_id,
                completed_by=therapist_id,
            )
        )
    return events
