"""Adverse events: charted with severity; serious ones raise a risk flag for the prescriber."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from contracts.envelope import EventBase, Stamp
from contracts.intake import RiskFlagAcknowledged, RiskFlagRaised
from contracts.session import AdverseEventReported, PrescriberNotified
from contracts.vocabulary import AdverseEventSeverity, RiskKind, RiskSeverity
from services.runtime.refusals import NotFound
from services.session.chart import AdverseEvent, check_observed_at, envelope
from services.session.record import RiskFlag, TreatmentRecord, session_of, with_session
from services.session.rules import SessionRules


class RiskFlagNotFound(NotFound):
    """No open risk flag raised by this session's adverse events (intake acknowledges its own)."""


@dataclass(frozen=True)
class ReportAdverseEvent:
    session_id: str
    kind: str
    severity: AdverseEventSeverity
    serious: bool
    reported_by: str
    observed_at: datetime


@dataclass(frozen=True)
class AcknowledgeRiskFlag:
    session_id: str
    flag_id: UUID
    acknowledged_by: str
    observed_at: datetime


def is_serious(command: ReportAdverseEvent, rules: SessionRules) -> bool:
    """Regulatory seriousness (hospitalisation, life-threatening...) is charted as `serious`;
    a severe event counts as serious too unless the network configures otherwise (DESIGN:
    serious adverse events raise a risk flag and notify the prescriber)."""
    severe = command.severity is AdverseEventSeverity.SEVERE
    return command.serious or (severe and rules.severe_adverse_event_is_serious)


def decide_adverse_event(
    record: TreatmentRecord, command: ReportAdverseEvent, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[EventBase]]:
    """Adverse events may be charted any time after check-in, also after discharge (REMS form
    asks for them). A serious one raises an urgent RiskFlagRaised, which also blocks the next
    check-in until a clinician acknowledges it, and notifies the approving prescriber."""
    session = session_of(record, command.session_id).model_copy(deep=True)
    at = command.observed_at
    check_observed_at(at, stamp.now, rules, not_before=session.checked_in_at)
    serious = is_serious(command, rules)
    event_id, flag_id = str(stamp.new_id()), stamp.new_id() if serious else None
    session.adverse_events.append(
        AdverseEvent(
            adverse_event_id=event_id,
            observed_at=at,
            kind=command.kind,
            severity=command.severity,
            serious=serious,
            reported_by=command.reported_by,
            flag_id=flag_id,
        )
    )
    updated = with_session(record, session)
    head = (stamp, at, record.patient_id, session.site_id)
    events: list[EventBase] = [
        AdverseEventReported(
            **envelope(*head),
            session_id=session.session_id,
            kind=command.kind,
            severity=command.severity,
            serious=serious,
            adverse_event_id=event_id,
            reported_by=command.reported_by,
        )
    ]
    if flag_id is None:
        return updated, events
    acknowledge_by = at + timedelta(hours=rules.serious_ae_acknowledge_hours)
    updated.risk_flags[str(flag_id)] = RiskFlag(
        kind=RiskKind.SERIOUS_ADVERSE_EVENT,
        severity=RiskSeverity.URGENT,
        raised_at=at,
        raised_by=stamp.producer,
    )
    events += [
        RiskFlagRaised(
            **envelope(*head),
            flag_id=flag_id,
            kind=RiskKind.SERIOUS_ADVERSE_EVENT,
            severity=RiskSeverity.URGENT,
            acknowledge_by=acknowledge_by,
        ),
        PrescriberNotified(
            **envelope(*head),
            session_id=session.session_id,
            reason="serious_adverse_event",
            prescriber_id=record.prescriber_id,
            flag_id=flag_id,
            adverse_event_id=event_id,
        ),
    ]
    return updated, events


def decide_acknowledge_flag(
    record: TreatmentRecord, command: AcknowledgeRiskFlag, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[RiskFlagAcknowledged]]:
    """A clinician acknowledges the flag a serious adverse event raised, which lets the next
    treatment day check in again (DESIGN: no treatment day while a flag awaits review). The
    acknowledgement follows the adverse event that raised the flag (DESIGN safety invariant 1)."""
    session = session_of(record, command.session_id)
    raised = [ae for ae in session.adverse_events if ae.flag_id == command.flag_id]
    if not raised or str(command.flag_id) not in record.open_risk_flags:
        raise RiskFlagNotFound(str(command.flag_id))
    check_observed_at(command.observed_at, stamp.now, rules, not_before=raised[0].observed_at)
    updated = record.model_copy(deep=True)
    updated.risk_flags[str(command.flag_id)].acknowledged_at = command.observed_at
    event = RiskFlagAcknowledged(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        flag_id=command.flag_id,
        acknowledged_by=command.acknowledged_by,
    )
    return updated, [event]
