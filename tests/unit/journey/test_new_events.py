"""Reassignment, escalation, blocked courses, proposals and outcomes in the journey."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from contracts.coaching import (
    CoachAssigned,
    FollowUpTaskCreated,
    FollowUpTaskOverdue,
    IntegrationSessionRecorded,
    RelapseSuspected,
    ResponseAchieved,
)
from contracts.scheduling import BoosterProposed, CourseBlocked, CourseExtended, ProposalDecided
from contracts.session import UnsafeDoseDetected
from contracts.vocabulary import Protocol, TaskKind
from harness.events import T0, stamp
from services.journey.domain import Journey, add
from services.journey.queries import dashboard

PID = "pat-new"


def at(minutes: int, producer: str, seed: int) -> dict[str, object]:
    return stamp(producer, T0 + timedelta(minutes=minutes), seed).envelope(PID, "site-north")


def fold(*events: object) -> Journey:
    journey = None
    for event in events:
        journey = add(journey, PID, event)  # type: ignore[arg-type]
    assert journey is not None
    return journey


def test_a_reassignment_moves_the_open_tasks_to_the_new_coach() -> None:
    journey = fold(
        CoachAssigned(**at(0, "coaching", 1), coach_id="coach-ana"),
        FollowUpTaskCreated(**at(1, "coaching", 2), task_id="t1", kind=TaskKind.PHQ9,
                            coach_id="coach-ana", due_at=T0 + timedelta(days=7)),
        CoachAssigned(**at(60, "coaching", 3), coach_id="coach-ben",
                      previous_coach_id="coach-ana", reason="coach_absent", task_ids=("t1",)),
    )  # fmt: skip
    assert journey.coach_id == "coach-ben"
    assert journey.open_tasks["t1"].coach_id == "coach-ben"


def test_an_escalated_task_is_marked_and_counted_on_the_dashboard() -> None:
    journey = fold(
        FollowUpTaskCreated(**at(1, "coaching", 2), task_id="t1", kind=TaskKind.COACH_CHECK_IN,
                            coach_id="coach-ana", due_at=T0 + timedelta(hours=24)),
        FollowUpTaskOverdue(**at(2000, "coaching", 3), task_id="t1",
                            kind=TaskKind.COACH_CHECK_IN, coach_id="coach-ana"),
        FollowUpTaskOverdue(**at(3500, "coaching", 4), task_id="t1",
                            kind=TaskKind.COACH_CHECK_IN, coach_id="coach-ana",
                            escalated_to_site_lead=True, site_lead_id="lead-north"),
    )  # fmt: skip
    assert journey.open_tasks["t1"].overdue
    assert journey.open_tasks["t1"].escalated
    from zoneinfo import ZoneInfo

    board = dashboard("site-north", [journey], T0, ZoneInfo("America/New_York"))
    assert (board["overdue_tasks"], board["escalated_tasks"]) == (1, 1)


def test_blocked_courses_pending_proposals_and_outcomes_are_visible() -> None:
    journey = fold(
        CourseBlocked(**at(0, "scheduling", 1), course_id="crs-1",
                      protocol=Protocol.ESKETAMINE_TRD, reason="site_not_rems_certified"),
        BoosterProposed(**at(10, "scheduling", 2), proposal_id="p1", course_id="crs-1",
                        starts_at=T0 + timedelta(days=3), ends_at=T0 + timedelta(days=3, hours=2),
                        reason="relapse suspected"),
        BoosterProposed(**at(11, "scheduling", 3), proposal_id="p2", course_id="crs-1",
                        starts_at=T0 + timedelta(days=4), ends_at=T0 + timedelta(days=4, hours=2),
                        reason="relapse suspected"),
        ProposalDecided(**at(20, "scheduling", 4), proposal_id="p1", course_id="crs-1",
                        confirmed=True, decided_by="dr-1"),
        ResponseAchieved(**at(30, "coaching", 5), total=8, baseline_total=18),
        RelapseSuspected(**at(40, "coaching", 6), total=15, best_total=8),
        IntegrationSessionRecorded(**at(50, "coaching", 7), integration_session_id="i1",
                                   status="missed", therapist_id="th-1", held_at=T0),
    )  # fmt: skip
    assert journey.course_blocked == "site_not_rems_certified"
    assert journey.pending_proposals == {"p2": "booster"}
    assert journey.outcome == "relapse_suspected"
    assert journey.integration_sessions == {"missed": 1}


def test_monitoring_forms_alerts_and_escalated_flags_open_and_close() -> None:
    from uuid import UUID

    from contracts.intake import RiskFlagAcknowledged, RiskFlagEscalated, RiskFlagRaised
    from contracts.session import (
        MonitoringCheckOverdue,
        MonitoringFormDue,
        MonitoringFormOverdue,
        VitalsRecorded,
    )
    from contracts.vocabulary import RiskKind, RiskSeverity

    flag = UUID(int=5)
    raised = dict(flag_id=flag, kind=RiskKind.SERIOUS_ADVERSE_EVENT, severity=RiskSeverity.URGENT,
                  acknowledge_by=T0 + timedelta(hours=1))  # fmt: skip
    due = dict(due_by=T0 + timedelta(days=7))
    journey = fold(
        MonitoringFormDue(**at(0, "session", 1), session_id="s1", **due),
        MonitoringFormDue(**at(1, "session", 2), session_id="s2", **due),
        MonitoringFormOverdue(**at(10_081, "session", 3), session_id="s1", **due),
        MonitoringCheckOverdue(**at(55, "session", 4), session_id="s2", check="bp_40min",
                               due_at=T0 + timedelta(minutes=55)),
        RiskFlagRaised(**at(5, "session", 5), **raised),
        RiskFlagEscalated(**at(65, "intake", 6), **raised),
    )  # fmt: skip
    assert (journey.monitoring_forms_due, journey.forms_due) == (2, {"s1": True, "s2": False})
    assert list(journey.monitoring_alerts) == ["s2:bp_40min"]
    assert journey.escalated_risk_flags == [str(flag)]

    later = journey
    for event in (
        VitalsRecorded(**at(70, "session", 7), session_id="s2", systolic=130, diastolic=80,
                       heart_rate=70, spo2=98, minutes_since_dose=70),
        RiskFlagAcknowledged(**at(80, "intake", 8), flag_id=flag, acknowledged_by="dr-1"),
    ):  # fmt: skip
        later = add(later, PID, event)
    assert later.monitoring_alerts == {}
    assert (later.open_risk_flags, later.escalated_risk_flags) == ([], [])


def test_an_unsafe_dose_and_a_course_extension_are_shown_and_counted() -> None:
    journey = fold(
        CourseExtended(
            **at(0, "scheduling", 30),
            course_id="crs-1",
            planned_doses=10,
            previous_planned_doses=8,
            extended_by="dr-psy",
            reason="partial response",
        ),
        UnsafeDoseDetected(
            **at(5, "session", 31),
            session_id="ses-1",
            dosed_at=T0,
            rule="OpenRiskFlag",
            facts=["phq9_item9 flag raised before the dose, not acknowledged"],
            prescriber_id="dr-psy",
        ),
    )

    assert journey.doses_planned == 10
    assert journey.unsafe_doses == {"ses-1": "OpenRiskFlag"}
    board = dashboard("site-north", [journey], T0, ZoneInfo("UTC"))
    assert board["unsafe_doses"] == 1
