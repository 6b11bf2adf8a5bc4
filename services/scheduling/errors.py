"""Scheduling's domain errors, named after the broken rule (409 conflicts, 422 bad requests)."""

from __future__ import annotations

from services.runtime.refusals import InvalidValue, NotFound, RuleViolation


class InvalidBooking(InvalidValue):
    """The requested booking is not possible as asked."""


class SlotInPast(InvalidBooking):
    """Appointments cannot start in the past."""


class NotOnGrid(InvalidBooking):
    """Appointments start on a 15-minute boundary."""


class SiteClosed(InvalidBooking):
    """The site is closed that day (weekly hours or a closed day)."""


class OutsideSiteHours(InvalidBooking):
    """The slot is outside the site's opening hours (site-local time)."""


class UnknownSite(InvalidBooking):
    """No such site in the clinic network."""


class UnknownProvider(InvalidBooking):
    """No such provider in the clinic network."""


class ProviderNotQualified(InvalidBooking):
    """This provider's role does not run this kind of appointment, or not at this site."""


class ProviderUnavailable(InvalidBooking):
    """The provider does not work then (weekly availability or an absence)."""


class UnknownChair(InvalidBooking):
    """No such monitoring chair or therapy room at this site."""


class WrongAppointmentKind(InvalidBooking):
    """This command does not apply to this kind of appointment."""


class SlotTaken(RuleViolation):
    """A chair, room, provider or the patient is already booked in that slot."""


class SiteNotRemsCertified(RuleViolation):
    """Spravato REMS: esketamine is administered only at REMS-certified sites."""


class CourseNotActive(RuleViolation):
    """The patient has no active approved course to book into."""


class AppointmentNotBooked(RuleViolation):
    """Only a booked appointment can be rescheduled, cancelled or marked as a no-show."""


class NoShowBeforeStart(RuleViolation):
    """A no-show can only be recorded once the appointment has started."""


class ProposalNotOpen(RuleViolation):
    """The proposal was already decided."""


class CourseNotFound(NotFound):
    """No treatment course for this patient (or not in the caller's sites)."""


class AppointmentNotFound(NotFound):
    """No such appointment in this patient's course."""


class ProposalNotFound(NotFound):
    """No such proposal in this patient's course."""


class CourseTermsViolation(RuleViolation):
    """A booking or extension broke the course's terms; `reasons` says specifically how."""

    def __init__(self, *reasons: str) -> None:
        super().__init__(*reasons)
        self.reasons = reasons


class BeyondPlannedDoses(CourseTermsViolation):
    """DESIGN safety invariant 6: the planned doses are a prescriber's decision; a booking past
    them is refused until a prescriber extends the course."""


class CourseCompleted(CourseTermsViolation):
    """DESIGN safety invariant 6: a completed course is not dosed on its old terms; a
    prescriber extends it first (therapy sessions are still booked)."""


class ExtensionNotAbovePlan(CourseTermsViolation):
    """DESIGN safety invariant 6: an extension raises the course's planned doses; fewer or as
    many as planned is not an extension."""
