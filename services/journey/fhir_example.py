"""A synthetic, demo-like treated patient: the events behind the checked-in example FHIR bundle.

Esketamine for TRD at site-north: screened (PHQ-9 18 with item 9 positive, flag acknowledged),
approved, two treatment days (the second with a mild adverse event), coach follow-ups and two
follow-up PHQ-9s, the last of which raises a risk flag that is still open. No real patient data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from contracts import EventBase
from contracts.coaching import (
    CoachAssigned,
    FollowUpTaskCompleted,
    FollowUpTaskCreated,
    OutcomeMeasured,
    ResponseAchieved,
)
from contracts.envelope import stable_id
from contracts.intake import (
    ConsentRecorded,
    CoverageAssessed,
    EligibilityDecided,
    PatientReferred,
    RiskFlagAcknowledged,
    RiskFlagRaised,
    ScreeningScored,
    SealedIdentity,
)
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.session import (
    AdverseEventReported,
    DoseAdministered,
    PatientCheckedIn,
    SessionDischarged,
    VitalsRecorded,
)
from contracts.vocabulary import (
    AdverseEventSeverity,
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    CoveragePathway,
    CssrsRisk,
    Decision,
    Gad7Band,
    Modality,
    Phq9Band,
    Protocol,
    RiskKind,
    RiskSeverity,
    TaskKind,
)
from services.journey.domain import Journey, add_all
from services.journey.fhir import bundle

PATIENT, SITE, COACH = "pat-example-1", "site-north", "coach-ana"
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ESKETAMINE = Protocol.ESKETAMINE_TRD


class Clock:
    """Envelopes in time order with deterministic event ids."""

    def __init__(self) -> None:
        self.n = count(1)

    def at(self, hours: float, producer: str) -> dict[str, Any]:
        n = next(self.n)
        return {
            "event_id": stable_id("fhir-example", n),
            "occurred_at": T0 + timedelta(hours=hours),
            "patient_id": PATIENT,
            "site_id": SITE,
            "correlation_id": stable_id("fhir-example", "correlation"),
            "producer": producer,
        }


def intake(c: Clock) -> list[EventBase]:
    flag = stable_id("fhir-example", "flag", 1)
    return [
        PatientReferred(**c.at(0, "intake"), referral_source="gp", identity=SealedIdentity(
            key_id=stable_id("fhir-example", "key"), nonce="AAAAAAAAAAAAAAAA",
            ciphertext="c3ludGhldGljIGNpcGhlcnRleHQ=")),
        ScreeningScored(**c.at(1, "intake"), phq9_total=18, phq9_band=Phq9Band.MODERATELY_SEVERE,
                        phq9_item9=1, gad7_total=9, gad7_band=Gad7Band.MILD,
                        cssrs_risk=CssrsRisk.LOW, adequate_failed_trials=2),
        RiskFlagRaised(**c.at(1, "intake"), flag_id=flag, kind=RiskKind.PHQ9_ITEM9,
                       severity=RiskSeverity.HIGH, acknowledge_by=T0 + timedelta(hours=25)),
        RiskFlagAcknowledged(**c.at(3, "intake"), flag_id=flag, acknowledged_by="dr-example"),
        ConsentRecorded(**c.at(4, "intake"), consent=ConsentKind.TREATMENT, given=True),
        CoverageAssessed(**c.at(4, "intake"), payer="payer-example", adequate_failed_trials=2,
                         treatment_resistant=True,
                         esketamine_pathway=CoveragePathway.ESKETAMINE_COVERED,
                         iv_ketamine_pathway=CoveragePathway.IV_PARTIAL_OR_REIMBURSEMENT),
        EligibilityDecided(**c.at(5, "intake"), decision=Decision.APPROVED,
                           decided_by="dr-example", protocol=ESKETAMINE,
                           modality=Modality.INTRANASAL, planned_doses=8,
                           coverage_pathway=CoveragePathway.ESKETAMINE_COVERED),
    ]  # fmt: skip


def scheduling(c: Clock) -> list[EventBase]:
    def booked(apt: str, kind: AppointmentKind, day: int, dose: int | None) -> AppointmentBooked:
        starts = T0 + timedelta(days=day)
        return AppointmentBooked(
            **c.at(6, "scheduling"), appointment_id=apt, course_id="crs-example-1", kind=kind,
            starts_at=starts, ends_at=starts + timedelta(hours=2), dose_number=dose,
            protocol=ESKETAMINE if dose else None,
            course_phase=CoursePhase.INDUCTION if dose else None,
        )  # fmt: skip

    return [
        CourseScheduled(**c.at(6, "scheduling"), course_id="crs-example-1", protocol=ESKETAMINE,
                        planned_doses=8),
        booked("apt-prep-1", AppointmentKind.PREPARATION, 1, None),
        booked("apt-dose-1", AppointmentKind.DOSING, 3, 1),
        booked("apt-dose-2", AppointmentKind.DOSING, 6, 2),
        booked("apt-dose-3", AppointmentKind.DOSING, 10, 3),
    ]  # fmt: skip


def treatment_day(c: Clock, dose: int, day: int, mg: float, lot: str) -> list[EventBase]:
    h = 24.0 * day
    session, apt = f"ses-apt-dose-{dose}", f"apt-dose-{dose}"
    ids = {"session_id": session}

    def vitals(hours: float, sys: int, dia: int, minutes: int | None) -> VitalsRecorded:
        return VitalsRecorded(**c.at(h + hours, "session"), **ids, systolic=sys, diastolic=dia,
                              heart_rate=76, spo2=98, minutes_since_dose=minutes)  # fmt: skip

    events: list[EventBase] = [
        PatientCheckedIn(**c.at(h, "session"), **ids, appointment_id=apt, protocol=ESKETAMINE),
        vitals(0.1, 132, 84, None),
        DoseAdministered(**c.at(h + 0.2, "session"), **ids, appointment_id=apt,
                         protocol=ESKETAMINE, dose_mg=mg, dose_number=dose, lot_number=lot,
                         administered_by="rn-example", devices=int(mg // 28)),
        vitals(0.9, 138, 86, 40),
    ]  # fmt: skip
    if dose == 2:
        nausea = AdverseEventSeverity.MILD
        events.append(AdverseEventReported(**c.at(h + 1.0, "session"), **ids, kind="nausea",
                                           severity=nausea, serious=False))  # fmt: skip
    events += [
        vitals(2.1, 128, 82, 115),
        SessionDischarged(**c.at(h + 2.3, "session"), **ids, appointment_id=apt,
                          protocol=ESKETAMINE, dose_number=dose,
                          course_phase=CoursePhase.INDUCTION, monitoring_minutes=125,
                          dose_mg=mg, dosed_at=T0 + timedelta(hours=h + 0.2),
                          adverse_events=int(dose == 2)),
        FollowUpTaskCreated(**c.at(h + 2.4, "coaching"), task_id=f"task-checkin-{dose}",
                            kind=TaskKind.COACH_CHECK_IN, coach_id=COACH,
                            due_at=T0 + timedelta(hours=h + 26), session_id=session),
    ]  # fmt: skip
    return events


def coaching(c: Clock) -> list[EventBase]:
    flag = stable_id("fhir-example", "flag", 2)
    return [
        CoachAssigned(**c.at(74.35, "coaching"), coach_id=COACH),
        FollowUpTaskCompleted(**c.at(90, "coaching"), task_id="task-checkin-1",
                              kind=TaskKind.COACH_CHECK_IN, coach_id=COACH, completed_by=COACH),
        OutcomeMeasured(**c.at(120, "coaching"), total=12, item9=0, baseline_total=18),
        OutcomeMeasured(**c.at(200, "coaching"), total=8, item9=1, baseline_total=18),
        ResponseAchieved(**c.at(200, "coaching"), total=8, baseline_total=18),
        RiskFlagRaised(**c.at(200, "coaching"), flag_id=flag, kind=RiskKind.PHQ9_ITEM9,
                       severity=RiskSeverity.HIGH, acknowledge_by=T0 + timedelta(hours=224)),
    ]  # fmt: skip


def example_events() -> list[EventBase]:
    c = Clock()
    return [
        *intake(c),
        *scheduling(c),
        *treatment_day(c, 1, 3, 56, "LOT-DEMO-1"),
        *treatment_day(c, 2, 6, 84, "LOT-DEMO-2"),
        *coaching(c),
    ]


def example_journey() -> Journey:
    return add_all(None, PATIENT, example_events())


def example_bundle() -> dict[str, Any]:
    return bundle(example_journey())
