"""Rules after the fact: missed doses, boosters, integration requests and site moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.coaching import IntegrationBookingRequested, RelapseSuspected
from contracts.scheduling import FrequencyChangeProposed
from contracts.vocabulary import AppointmentKind, CoursePhase
from services.scheduling import attendance, commands, course_changes, errors
from services.scheduling.course import AppointmentStatus, Course
from services.scheduling.domain import decide_integration_request, decide_relapse
from services.scheduling.slots import Wanted
from tests.unit.scheduling.builders import approve, context, event_types, network, site, stamp, utc

APPROVED_AT = utc(2026, 3, 4, 15)


def course_of(planned: int | None = None) -> Course:
    return approve(network(), APPROVED_AT, planned=planned).course


def dose(course: Course, number: int) -> str:
    found = course.dose(number)
    assert found is not None
    return found.appointment_id


def test_a_missed_induction_dose_keeps_the_schedule() -> None:
    course = course_of()
    missed = course.dose(3)
    assert missed is not None
    outcome = attendance.decide_no_show(
        course, missed.appointment_id, context(network(), missed.starts_at + timedelta(hours=1))
    )
    later = [a for a in course.appointments if a.starts_at > missed.ends_at]
    assert event_types(outcome.events)[:2] == ["AppointmentNoShow", "AppointmentCancelled"]
    assert outcome.course.appointment(missed.appointment_id).status is AppointmentStatus.NO_SHOW  # type: ignore[union-attr]
    kept = [a for a in later if a.kind is AppointmentKind.DOSING]
    assert all(outcome.course.appointment(a.appointment_id) == a for a in kept)
    assert outcome.course.proposals == ()
    assert missed.appointment_id in outcome.release


def test_a_missed_maintenance_dose_proposes_the_previous_frequency_for_a_prescriber() -> None:
    course = course_of(planned=14)
    missed = course.dose(13)
    assert missed is not None
    assert missed.course_phase is CoursePhase.MAINTENANCE
    ctx = context(network(), missed.starts_at + timedelta(hours=3))
    outcome = attendance.decide_no_show(course, missed.appointment_id, ctx)
    proposed = next(e for e in outcome.events if isinstance(e, FrequencyChangeProposed))
    assert (proposed.current_frequency, proposed.proposed_frequency) == ("every_2_weeks", "weekly")
    confirmed = course_changes.decide_proposal(
        outcome.course, proposed.proposal_id, True, "dr-x", ctx
    )
    assert confirmed.course.frequency_override == "weekly"
    moved = confirmed.course.dose(14)
    assert moved is not None
    gap = (moved.starts_at - missed.starts_at).days
    assert 5 <= gap <= 9, "the next dose comes a week after the missed one, not two"
    assert "AppointmentRescheduled" in event_types(confirmed.events)


def test_a_suspected_relapse_proposes_a_booster_that_a_prescriber_confirms() -> None:
    course = course_of()
    at = APPROVED_AT + timedelta(days=60)
    relapse = RelapseSuspected(
        **stamp(at, 900).envelope(course.patient_id, course.site_id), total=17, best_total=5
    )
    proposed = decide_relapse(course, relapse, context(network(), at))
    (proposal,) = proposed.course.proposals
    assert event_types(proposed.events) == ["BoosterProposed"]
    assert proposed.take == (), "nothing is reserved until a prescriber confirms"
    confirmed = course_changes.decide_proposal(
        proposed.course, proposal.proposal_id, True, "dr-x", context(network(), at)
    )
    booster = [a for a in confirmed.course.appointments if a.kind is AppointmentKind.BOOSTER]
    assert len(booster) == 1
    assert booster[0].dose_number == 9
    assert event_types(confirmed.events) == [
        "ProposalDecided",
        "CourseExtended",
        "AppointmentBooked",
    ]
    with pytest.raises(errors.ProposalNotOpen):
        course_changes.decide_proposal(
            confirmed.course, proposal.proposal_id, False, "dr-x", context(network(), at)
        )


def test_an_integration_request_for_a_dose_already_covered_books_nothing_else() -> None:
    course = course_of()
    first = course.dose(1)
    assert first is not None
    request = IntegrationBookingRequested(
        **stamp(first.ends_at, 950).envelope(course.patient_id, course.site_id),
        task_id="tsk-1",
        session_id=f"ses-{first.appointment_id}",
        book_by=first.ends_at + timedelta(hours=72),
    )
    assert (
        decide_integration_request(course, request, context(network(), first.ends_at)).events == ()
    )
    without = attendance.decide_cancel(
        course, dose(course, 1), "rebooked", context(network(), APPROVED_AT)
    )
    rebooked = commands.decide_book(
        without.course,
        commands.Book(AppointmentKind.DOSING, first.starts_at, Wanted(), dose_number=1),
        context(network(), APPROVED_AT),
    )
    new_dose = next(a for a in rebooked.course.appointments if a.live and a.dose_number == 1)
    request = request.model_copy(update={"session_id": f"ses-{new_dose.appointment_id}"})
    booked = decide_integration_request(rebooked.course, request, context(network(), first.ends_at))
    assert event_types(booked.events) == ["AppointmentBooked"]


def test_moving_an_esketamine_course_needs_both_sites_certified() -> None:
    north, south, east = site(), site("site-tx", rems=False), site("site-nj")
    net = network(north, south, east)
    course = approve(net, APPROVED_AT).course
    with pytest.raises(errors.SiteNotRemsCertified):
        course_changes.decide_transfer(course, "site-tx", "moved", context(net, APPROVED_AT))
    moved = course_changes.decide_transfer(course, "site-nj", "moved", context(net, APPROVED_AT))
    assert moved.course.site_id == "site-nj"
    assert {a.site_id for a in moved.course.appointments if a.live} == {"site-nj"}
    assert event_types(moved.events)[0] == "CourseTransferred"


def test_an_integration_request_names_its_dose_even_when_the_session_id_is_hashed() -> None:
    """Session ids of long appointment ids are hashed; the request's appointment_id still
    identifies the dose, so a covered dose is not booked twice."""
    course = course_of()
    first = course.dose(1)
    assert first is not None
    request = IntegrationBookingRequested(
        **stamp(first.ends_at, 960).envelope(course.patient_id, course.site_id),
        task_id="tsk-2",
        session_id="ses-" + "0" * 40,
        appointment_id=first.appointment_id,
        book_by=first.ends_at + timedelta(hours=72),
    )
    assert (
        decide_integration_request(course, request, context(network(), first.ends_at)).events == ()
    )
