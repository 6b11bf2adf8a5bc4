"""The journey projection converges for any cross-topic interleaving and any redelivery."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import EventBase
from contracts.coaching import CoachAssigned, FollowUpTaskCompleted, FollowUpTaskCreated
from contracts.intake import RiskFlagAcknowledged, RiskFlagRaised
from contracts.scheduling import AppointmentBooked, CourseScheduled
from contracts.session import DoseAdministered, PatientCheckedIn, SessionDischarged
from contracts.vocabulary import (
    AppointmentKind,
    CoursePhase,
    Protocol,
    RiskKind,
    RiskSeverity,
    TaskKind,
)
from harness.events import T0, approved, referred, screened, stamp
from services.journey.domain import Journey, add

PID = "pat-prop"
FLAG = uuid.UUID(int=999)


def at(minutes: int, producer: str, seed: int) -> dict[str, object]:
    return stamp(producer, T0 + timedelta(minutes=minutes), seed).envelope(PID, "site-north")


def per_topic_streams() -> list[list[EventBase]]:
    """One patient's events as each topic orders them (ordered within, not across topics)."""
    intake = [
        referred(PID, s=stamp("intake", T0, 100)),
        screened(PID, s=stamp("intake", T0, 200)),
        RiskFlagRaised(
            **at(0, "intake", 300),
            flag_id=FLAG,
            kind=RiskKind.PHQ9_ITEM9,
            severity=RiskSeverity.HIGH,
            acknowledge_by=T0 + timedelta(hours=24),
        ),
        RiskFlagAcknowledged(**at(30, "intake", 400), flag_id=FLAG, acknowledged_by="dr-1"),
        approved(PID, s=stamp("intake", T0 + timedelta(minutes=60), 500)),
    ]
    dose = dict(appointment_id="apt-2", protocol=Protocol.ESKETAMINE_TRD)
    scheduling = [
        CourseScheduled(
            **at(61, "scheduling", 600),
            course_id="crs-1",
            protocol=Protocol.ESKETAMINE_TRD,
            planned_doses=2,
        ),
        AppointmentBooked(
            **at(61, "scheduling", 700),
            appointment_id="apt-1",
            kind=AppointmentKind.PREPARATION,
            starts_at=T0 + timedelta(days=1),
            ends_at=T0 + timedelta(days=1, hours=1),
        ),
        AppointmentBooked(
            **at(61, "scheduling", 800),
            kind=AppointmentKind.DOSING,
            dose_number=1,
            starts_at=T0 + timedelta(days=3),
            ends_at=T0 + timedelta(days=3, hours=2),
            course_phase=CoursePhase.INDUCTION,
            **dose,
        ),
    ]
    day3 = 3 * 24 * 60
    session = [
        PatientCheckedIn(**at(day3, "session", 900), session_id="ses-1", **dose),
        DoseAdministered(
            **at(day3 + 10, "session", 1000),
            session_id="ses-1",
            dose_mg=56,
            dose_number=1,
            lot_number="L1",
            administered_by="rn-1",
            **dose,
        ),
        SessionDischarged(
            **at(day3 + 140, "session", 1100),
            session_id="ses-1",
            dose_number=1,
            course_phase=CoursePhase.INDUCTION,
            monitoring_minutes=130,
            **dose,
        ),
    ]
    task = dict(task_id="tsk-1", kind=TaskKind.COACH_CHECK_IN, coach_id="coach-ana")
    coaching = [
        CoachAssigned(**at(day3 + 141, "coaching", 1200), coach_id="coach-ana"),
        FollowUpTaskCreated(
            **at(day3 + 141, "coaching", 1300), due_at=T0 + timedelta(days=4), **task
        ),
        FollowUpTaskCreated(
            **at(day3 + 141, "coaching", 1400),
            task_id="tsk-2",
            kind=TaskKind.PHQ9,
            coach_id="coach-ana",
            due_at=T0 + timedelta(days=10),
        ),
        FollowUpTaskCompleted(**at(day3 + 1500, "coaching", 1500), **task),
    ]
    return [intake, scheduling, session, coaching]


def replay(events: list[EventBase]) -> Journey:
    journey: Journey | None = None
    for event in events:
        journey = add(journey, PID, event)
    assert journey is not None
    return journey


@st.composite
def deliveries(draw: st.DrawFn) -> list[EventBase]:
    """A random merge of the topic streams, each message possibly redelivered later."""
    streams = [list(s) for s in per_topic_streams()]
    delivered: list[EventBase] = []
    while any(streams):
        stream = draw(st.sampled_from([s for s in streams if s]))
        event = stream.pop(0)
        delivered.append(event)
        if draw(st.integers(0, 4)) == 0:
            stream.insert(draw(st.integers(0, len(stream))), event)
    return delivered


CANONICAL = replay(
    sorted(
        (e for s in per_topic_streams() for e in s), key=lambda e: (e.occurred_at, str(e.event_id))
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(deliveries())
def test_any_interleaving_and_duplication_gives_the_identical_journey(
    events: list[EventBase],
) -> None:
    assert replay(events).model_dump() == CANONICAL.model_dump()


def test_the_canonical_journey_reflects_every_topic() -> None:
    j = CANONICAL
    assert (j.phase, j.protocol, j.doses_given, j.doses_planned) == (
        "induction",
        "esketamine_trd",
        1,
        2,
    )
    assert j.open_risk_flags == []
    assert j.coach_id == "coach-ana"
    assert list(j.open_tasks) == ["tsk-2"]
    assert j.next_appointment is not None
    assert j.next_appointment.appointment_id == "apt-1"
    assert len(j.timeline) == 15


def test_applying_an_event_twice_changes_nothing() -> None:
    event = per_topic_streams()[0][0]
    once = add(None, PID, event)
    assert add(once, PID, event) == once


def test_identity_never_reaches_the_projection() -> None:
    dumped = replay(per_topic_streams()[0]).model_dump_json()
    assert "Patient-0" not in dumped
    assert "1980-01-01" not in dumped
    assert "identity" not in dumped


def journey_with(**facts: object) -> Journey:
    return Journey(patient_id=PID, **facts)


def test_the_phase_follows_what_happened_not_the_last_event() -> None:
    streams = per_topic_streams()
    charted_early = [
        event.model_copy(update={"occurred_at": T0 - timedelta(hours=3)}) for event in streams[2]
    ]
    journey = replay([*streams[0], *streams[1], *charted_early])
    assert journey.phase == "induction"


def test_phase_boundaries() -> None:
    from services.journey.domain import Appointment, phase_of

    prep = {"a": Appointment(appointment_id="a", kind="preparation", starts_at=T0)}
    assert phase_of(journey_with()) == "referred"
    assert phase_of(journey_with(screened=True)) == "awaiting_review"
    assert phase_of(journey_with(screened=True, decision="needs_more_information")) == "screening"
    assert phase_of(journey_with(decision="declined", doses_given=1)) == "declined"
    assert phase_of(journey_with(decision="approved")) == "approved"
    assert phase_of(journey_with(decision="approved", appointments=prep)) == "preparation"
    assert phase_of(journey_with(decision="approved", doses_given=1)) == "induction"
    maintenance = journey_with(decision="approved", doses_given=9, course_phase="maintenance")
    assert phase_of(maintenance) == "maintenance"
    done = journey_with(decision="approved", doses_given=2, doses_planned=2, discharges=2)
    assert phase_of(done) == "completed"
    assert phase_of(done.model_copy(update={"discharges": 1})) == "induction"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(deliveries(), st.integers(1, 14))
def test_a_replay_batch_gives_the_same_journey_as_one_event_at_a_time(
    events: list[EventBase], split: int
) -> None:
    from services.journey.domain import add_all

    batched = add_all(add_all(None, PID, events[:split]), PID, events[split:])
    assert batched.model_dump() == replay(events).model_dump()
