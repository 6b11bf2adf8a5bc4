"""Completing follow-up tasks and the PHQ-9 outcome rules: item-9 risk, response, remission."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid5

from contracts.coaching import (
    FollowUpTaskCompleted,
    OutcomeMeasured,
    RelapseSuspected,
    RemissionAchieved,
    ResponseAchieved,
)
from contracts.envelope import EventBase, Stamp
from contracts.intake import RiskFlagRaised
from contracts.vocabulary import RiskKind, RiskSeverity, TaskKind
from services.coaching.domain import (
    CoachingRecord,
    Outcome,
    Phq9AnswersRequiredError,
    TaskAlreadyCompletedError,
    TaskOfAnotherCoachError,
    TaskStatus,
    UnknownTaskError,
)
from services.coaching.rules import CoachingRules


def is_response(baseline: int, total: int, rules: CoachingRules) -> bool:
    """Response: PHQ-9 at least 50 % below the pre-treatment baseline (DESIGN: outcomes vs
    baseline; Löwe et al. 2004, Med Care 42:1194, and AIMS Center measurement-based care).
    Integer arithmetic, so exactly 50 % counts and no rounding decides a clinical event."""
    return baseline > 0 and (baseline - total) * 100 >= baseline * rules.response_reduction_percent


def is_remission(total: int, rules: CoachingRules) -> bool:
    """Remission: PHQ-9 < 5, i.e. back in the minimal band 0-4 (DESIGN; Kroenke, Spitzer &
    Williams 2001 PHQ-9 scoring; AIMS Center measurement-based care)."""
    return total < rules.remission_below


def is_worsening(total: int, best: int, rules: CoachingRules) -> bool:
    """Worsening, the relapse signal after a response: the PHQ-9 is back at or above 10 (the
    cut-off for clinically significant depression: Kroenke, Spitzer & Williams 2001; Manea,
    Gilbody & McMillan 2012, CMAJ 184:E191) *and* at least 5 points above the best follow-up
    score (5 points is the PHQ-9's minimal clinically important change: Löwe et al. 2004, Med
    Care 42:1194). Both are configurable (`relapse_at_least`, `relapse_rise_points`)."""
    return total >= rules.relapse_at_least and total - best >= rules.relapse_rise_points


def risk_flag_id(task_id: str) -> UUID:
    """One item-9 flag per completed PHQ-9 task, whatever retries happen."""
    return uuid5(UUID(task_id), RiskKind.PHQ9_ITEM9.value)


def measure_phq9(
    record: CoachingRecord,
    answers: Sequence[int],
    task_id: str,
    stamp: Stamp,
    rules: CoachingRules,
) -> tuple[CoachingRecord, list[EventBase]]:
    """Score a follow-up PHQ-9 against the baseline. DESIGN: any item 9 > 0 during follow-up
    raises a risk flag again (high severity, clinician acknowledgement within 24 h, as at
    intake); response and remission are announced the first time they are reached."""
    total, item9 = sum(answers), answers[8]
    best = total if record.best_phq9 is None else min(record.best_phq9, total)
    updated = record.model_copy(update={"best_phq9": best})
    envelope = stamp.envelope
    pid, site = record.patient_id, record.site_id
    events: list[EventBase] = [
        OutcomeMeasured(
            **envelope(pid, site), total=total, item9=item9, baseline_total=record.baseline_phq9
        ),
    ]
    if item9 > 0:
        events.append(
            RiskFlagRaised(
                **envelope(pid, site),
                flag_id=risk_flag_id(task_id),
                kind=RiskKind.PHQ9_ITEM9,
                severity=RiskSeverity.HIGH,
                acknowledge_by=stamp.now + timedelta(hours=rules.risk_flag_ack_hours),
            )
        )
    baseline = record.baseline_phq9
    responded = baseline is not None and is_response(baseline, total, rules)
    if responded and not record.response_achieved:
        assert baseline is not None
        updated.response_achieved = True
        events.append(ResponseAchieved(**envelope(pid, site), total=total, baseline_total=baseline))
    if not record.remission_achieved and is_remission(total, rules):
        updated.remission_achieved = True
        events.append(RemissionAchieved(**envelope(pid, site), total=total))
    events += detect_relapse(record, updated, total, responded, stamp, rules)
    return updated, events


def detect_relapse(
    record: CoachingRecord,
    updated: CoachingRecord,
    total: int,
    responded: bool,
    stamp: Stamp,
    rules: CoachingRules,
) -> list[EventBase]:
    """DESIGN: worsening after response ⇒ RelapseSuspected (scheduling proposes a booster).
    Worsening is `is_worsening` against the best score *before* this one, on
    `relapse_confirmations` consecutive follow-up PHQ-9s (default 1, so the booster is not
    delayed a month in maintenance; SUSTAIN-1, Daly et al. 2019 JAMA Psychiatry 76:893,
    confirmed relapse on 2 consecutive assessments: set 2 for that). Suspected once per
    episode: a later PHQ-9 meeting the response criterion again re-arms it."""
    best_before = record.best_phq9
    worse = best_before is not None and is_worsening(total, best_before, rules)
    updated.worsening_streak = record.worsening_streak + 1 if worse else 0
    if responded:
        updated.relapse_suspected = False
    if (
        not record.response_achieved
        or record.relapse_suspected
        or best_before is None
        or updated.worsening_streak < rules.relapse_confirmations
    ):
        return []
    updated.relapse_suspected = True
    return [
        RelapseSuspected(
            **stamp.envelope(record.patient_id, record.site_id),
            total=total,
            best_total=best_before,
            baseline_total=record.baseline_phq9,
        )
    ]


def decide_completion(
    record: CoachingRecord | None,
    task_id: str,
    coach_id: str,
    outcome: Outcome,
    note: str | None,
    stamp: Stamp,
    rules: CoachingRules,
    site_lead: str | None = None,
) -> tuple[CoachingRecord, list[EventBase]]:
    """The assigned coach completes an open task once, or the site lead once it was escalated
    to them (DESIGN: overdue tasks escalate coach -> site lead); a PHQ-9 task needs the nine
    answers, and PHQ-9 answers on any task are scored (`measure_phq9`). The note is kept on
    the task and never emitted."""
    task = record.tasks.get(task_id) if record else None
    if record is None or task is None:
        raise UnknownTaskError(task_id)
    escalated_to_caller = task.escalated and site_lead is not None and coach_id == site_lead
    if task.coach_id != coach_id and not escalated_to_caller:
        raise TaskOfAnotherCoachError(task_id)
    if task.status is TaskStatus.COMPLETED:
        raise TaskAlreadyCompletedError(task_id)
    if task.kind is TaskKind.PHQ9 and outcome.phq9 is None:
        raise Phq9AnswersRequiredError(task_id)
    updated = record.model_copy(deep=True)
    updated.tasks[task_id] = task.model_copy(
        update={
            "status": TaskStatus.COMPLETED,
            "completed_at": stamp.now,
            "completed_by": coach_id,
            "check_in": outcome.check_in,
            "goals": list(outcome.goals),
            "note": note,
        }
    )
    events: list[EventBase] = [
        FollowUpTaskCompleted(
            **stamp.envelope(record.patient_id, record.site_id),
            task_id=task_id,
            kind=task.kind,
            coach_id=task.coach_id,
            completed_by=coach_id,
        ),
    ]
    if outcome.phq9 is not None:
        updated, measured = measure_phq9(updated, outcome.phq9, task_id, stamp, rules)
        events.extend(measured)
    return updated, events
