"""Risk flags at intake: acknowledged here by a psychiatrist, escalated when overdue, and
learnt from session and coaching, so approvals consider every flag wherever it was raised
(DESIGN safety invariants 4 and 7)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts import EventBase, stable_id
from contracts.envelope import Stamp
from contracts.intake import RiskFlagAcknowledged, RiskFlagEscalated, RiskFlagRaised
from services.intake.domain import Decided, IntakeRecord, flag_from
from services.runtime.refusals import NotFound, RuleViolation


class UnknownRiskFlag(NotFound):
    """No such risk flag on this patient."""


class FlagForUnknownPatient(RuleViolation):
    """DESIGN safety invariant 4: a risk flag is never dropped. One for a patient intake has no
    record of is refused, so the consumer dead-letters it where ops see it and can re-drive it
    once the referral exists."""


def known(
    record: IntakeRecord | None, event: RiskFlagRaised | RiskFlagAcknowledged
) -> IntakeRecord:
    if record is None:
        raise FlagForUnknownPatient(f"{event.event_type} {event.flag_id} from {event.producer}")
    return record


def decide_flag_raised_elsewhere(record: IntakeRecord | None, raised: RiskFlagRaised) -> Decided:
    """Flags raised by session (serious adverse event) or coaching (follow-up item 9) are
    acknowledged here, by a psychiatrist, and hold approvals like intake's own (DESIGN)."""
    updated = known(record, raised).model_copy(deep=True)
    updated.flags.setdefault(str(raised.flag_id), flag_from(raised))
    return updated, []


def decide_flag_acknowledged_elsewhere(
    record: IntakeRecord | None, acknowledged: RiskFlagAcknowledged
) -> Decided:
    """A prescriber in the session service may acknowledge a flag the session raised (DESIGN
    safety invariant 4: every service that gates on flags learns of all of them through
    events). Intake marks its copy acknowledged, so approval and escalation see it; the
    acknowledgement is the session's event, so intake emits none. A flag intake never learnt
    of, or already acknowledged, is left as it is."""
    flag_id = str(acknowledged.flag_id)
    record = known(record, acknowledged)
    flag = record.flags.get(flag_id)
    if flag is None or flag.acknowledged:
        return record, []
    updated = record.model_copy(deep=True)
    updated.flags[flag_id] = flag.model_copy(
        update={
            "acknowledged": True,
            "acknowledged_by": acknowledged.acknowledged_by,
            "acknowledged_at": acknowledged.occurred_at,
        }
    )
    return updated, []


def decide_acknowledge(
    record: IntakeRecord, flag_id: str, by: str, note: str, stamp: Stamp
) -> Decided:
    """A psychiatrist acknowledges a risk flag with a note (DESIGN: routed to a clinician)."""
    flag = record.flags.get(flag_id)
    if flag is None:
        raise UnknownRiskFlag(flag_id)
    if flag.acknowledged:
        return record, []
    updated = record.model_copy(deep=True)
    updated.flags[flag_id] = flag.model_copy(
        update={
            "acknowledged": True,
            "acknowledged_by": by,
            "acknowledged_at": stamp.now,
            "note": note,
        }
    )
    return updated, [
        RiskFlagAcknowledged(
            **stamp.envelope(record.patient_id, record.site_id),
            flag_id=UUID(flag_id),
            acknowledged_by=by,
        )
    ]


def escalation_id(flag_id: str) -> UUID:
    """One escalation per flag, whichever sweeper fires it and however often."""
    return stable_id(flag_id, "risk-flag-escalation")


def decide_escalations(record: IntakeRecord, now: datetime, producer: str) -> Decided:
    """An unacknowledged flag past its acknowledgement deadline is escalated once (DESIGN:
    urgent review with an acknowledgement deadline). The event is fully determined by the
    flag - id, time (the deadline) and causal chain - so two sweepers emit the same event."""
    updated = record.model_copy(deep=True)
    events: list[EventBase] = []
    for flag_id, flag in updated.flags.items():
        if not flag.awaiting_escalation or flag.acknowledge_by is None:
            continue
        if flag.acknowledge_by > now:
            continue
        flag.escalated = True
        events.append(
            RiskFlagEscalated(
                event_id=escalation_id(flag_id),
                occurred_at=flag.acknowledge_by,
                patient_id=record.patient_id,
                site_id=record.site_id,
                correlation_id=flag.correlation_id or escalation_id(flag_id),
                causation_id=flag.raised_event_id,
                producer=producer,
                flag_id=UUID(flag_id),
                kind=flag.kind,
                severity=flag.severity,
                acknowledge_by=flag.acknowledge_by,
            )
        )
    return updated, events
