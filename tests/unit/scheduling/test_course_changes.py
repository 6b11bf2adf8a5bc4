"""Course changes are prescribers' decisions (DESIGN safety invariant 6), and a site's REMS
certification change reaches the patients whose doses depend on it (invariant 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.coaching import RelapseSuspected
from contracts.scheduling import CourseExtended, SiteCertificationChanged
from contracts.vocabulary import AppointmentKind, Protocol
from services.scheduling import commands, course_changes, errors
from services.scheduling.course import Course, CourseStatus
from services.scheduling.decision import Outcome
from services.scheduling.domain import decide_relapse
from services.scheduling.rems import CertificationChange, decide_site_certification
from services.scheduling.rules import SchedulingRules
from services.scheduling.slots import Wanted
from tests.unit.scheduling.builders import approve, context, event_types, network, site, stamp, utc

APPROVED_AT = utc(2026, 3, 4, 15)
AFTER_THE_COURSE = utc(2026, 6, 1, 14)
"""A Monday, 10:00 in New York: well after the eight booked doses."""


def course_of(protocol: Protocol = Protocol.ESKETAMINE_TRD) -> Course:
    return approve(network(), APPROVED_AT, protocol=protocol).course


def completed(course: Course) -> Course:
    planned = course.planned_doses or 0
    return course.model_copy(
        update={"status": CourseStatus.COMPLETED, "doses_given": tuple(range(1, planned + 1))}
    )


def book(
    course: Course, kind: AppointmentKind = AppointmentKind.DOSING, number: int | None = None
) -> Outcome:
    booking = commands.Book(kind, AFTER_THE_COURSE, Wanted(), dose_number=number)
    return commands.decide_book(course, booking, context(network(), APPROVED_AT))


def extend(course: Course, planned: int) -> Outcome:
    extension = course_changes.Extend(planned, "partial response", "dr-x")
    return course_changes.decide_extend(course, extension, context(network(), APPROVED_AT))


def test_a_treatment_day_past_the_planned_doses_is_refused_and_the_plan_is_kept() -> None:
    course = course_of()
    for number in (None, 9):
        with pytest.raises(errors.BeyondPlannedDoses) as refused:
            book(course, number=number)
        assert refused.value.reasons == (
            "dose 9; the course plans 8 doses; a prescriber extends the course",
        )
    with pytest.raises(errors.BeyondPlannedDoses):
        book(course, AppointmentKind.BOOSTER)
    assert course.planned_doses == 8


def test_a_treatment_day_on_a_completed_course_is_refused() -> None:
    course = completed(course_of())
    for kind, number in ((AppointmentKind.DOSING, 8), (AppointmentKind.BOOSTER, None)):
        with pytest.raises(errors.CourseCompleted):
            book(course, kind, number)


def test_therapy_sessions_on_a_completed_course_are_still_booked() -> None:
    course = completed(course_of())
    for kind in (AppointmentKind.INTEGRATION, AppointmentKind.PREPARATION):
        outcome = book(course, kind)
        assert event_types(outcome.events) == ["AppointmentBooked"]
        assert (outcome.course.status, outcome.course.planned_doses) == (
            CourseStatus.COMPLETED,
            8,
        )


def test_a_prescriber_extension_raises_the_plan_and_reopens_a_completed_course() -> None:
    outcome = extend(completed(course_of()), 10)
    (event,) = outcome.events
    assert isinstance(event, CourseExtended)
    assert (event.planned_doses, event.previous_planned_doses) == (10, 8)
    assert (event.extended_by, event.reason) == ("dr-x", "partial response")
    assert (outcome.course.status, outcome.course.planned_doses) == (CourseStatus.ACTIVE, 10)
    booked = book(outcome.course)
    new = [a for a in booked.course.appointments if a.starts_at == AFTER_THE_COURSE]
    assert [a.dose_number for a in new] == [9]
    assert booked.course.planned_doses == 10


def test_an_extension_that_does_not_raise_the_plan_is_refused() -> None:
    for planned in (8, 5):
        with pytest.raises(errors.ExtensionNotAbovePlan) as refused:
            extend(course_of(), planned)
        assert refused.value.reasons == (f"{planned} planned doses; the course already plans 8",)


def confirmed_booster(course: Course) -> Outcome:
    at = APPROVED_AT + timedelta(days=60)
    relapse = RelapseSuspected(
        **stamp(at, 900).envelope(course.patient_id, course.site_id), total=17, best_total=5
    )
    proposed = decide_relapse(course, relapse, context(network(), at))
    (proposal,) = proposed.course.proposals
    return course_changes.decide_proposal(
        proposed.course, proposal.proposal_id, True, "dr-confirms", context(network(), at)
    )


def test_a_confirmed_booster_after_a_completed_course_extends_it_in_the_prescribers_name() -> None:
    confirmed = confirmed_booster(completed(course_of()))
    assert event_types(confirmed.events) == [
        "ProposalDecided",
        "CourseExtended",
        "AppointmentBooked",
    ]
    extension = confirmed.events[1]
    assert isinstance(extension, CourseExtended)
    assert (extension.planned_doses, extension.previous_planned_doses) == (9, 8)
    assert extension.extended_by == "dr-confirms"
    assert (confirmed.course.status, confirmed.course.planned_doses) == (CourseStatus.ACTIVE, 9)
    boosters = [a for a in confirmed.course.appointments if a.kind is AppointmentKind.BOOSTER]
    assert [a.dose_number for a in boosters] == [9]


def test_a_confirmed_booster_within_the_plan_does_not_extend_it() -> None:
    confirmed = confirmed_booster(extend(course_of(), 9).course)
    assert event_types(confirmed.events) == ["ProposalDecided", "AppointmentBooked"]
    assert confirmed.course.planned_doses == 9


def certification_lost(number: int = 1) -> CertificationChange:
    return CertificationChange("site-ny", False, "admin-1", number)


def notices(course: Course, change: CertificationChange) -> list[SiteCertificationChanged]:
    outcome = decide_site_certification(course, change, SchedulingRules(), stamp(APPROVED_AT, 700))
    assert outcome.course == course, "the course itself does not change"
    return [e for e in outcome.events if isinstance(e, SiteCertificationChanged)]


def test_a_certification_change_is_told_to_an_active_esketamine_course_at_the_site() -> None:
    course = course_of()
    (notice,) = notices(course, certification_lost())
    assert (notice.patient_id, notice.site_id) == (course.patient_id, "site-ny")
    assert (notice.rems_certified, notice.changed_by) == (False, "admin-1")
    assert notice.event_id == certification_lost().event_id(course.patient_id)
    (again,) = notices(course, certification_lost())
    assert again.event_id == notice.event_id, "a retried change names the same event"
    (later,) = notices(course, certification_lost(2))
    assert later.event_id != notice.event_id, "the site's next change is a new event"


def test_a_certification_change_is_not_told_to_courses_it_does_not_gate() -> None:
    iv = course_of(protocol=Protocol.IV_KETAMINE_SERIES)
    done = completed(course_of())
    elsewhere = approve(network(site(), site("site-nj")), APPROVED_AT, site_id="site-nj").course
    assert elsewhere.status is CourseStatus.ACTIVE
    for course in (iv, done, elsewhere):
        assert notices(course, certification_lost()) == []
