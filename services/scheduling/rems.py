"""Spravato REMS at scheduling: which protocol a site may book, and telling patients' streams
of a change in their site's certification. Pure, like the other decisions (decision.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from contracts.envelope import Stamp, stable_id
from contracts.scheduling import SiteCertificationChanged
from services.scheduling.course import Course, CourseStatus
from services.scheduling.decision import Outcome
from services.scheduling.network import Site
from services.scheduling.rules import ProtocolPlan, SchedulingRules


def rems_blocks(plan: ProtocolPlan, site: Site) -> bool:
    """Spravato REMS: esketamine is dispensed and administered only in REMS-certified
    healthcare settings; protocols marked `rems_required` are never booked elsewhere."""
    return plan.rems_required and not site.rems_certified


@dataclass(frozen=True)
class CertificationChange:
    """A site admin changed the site's REMS certification: the site's `number`th change."""

    site_id: str
    rems_certified: bool
    changed_by: str
    number: int

    def event_id(self, patient_id: str) -> UUID:
        """The same for every attempt at this change, so a retried one tells nobody twice."""
        return stable_id("site-certification", self.site_id, self.number, patient_id)


def dosed_on_certification(course: Course, site_id: str, rules: SchedulingRules) -> bool:
    """Spravato REMS: a protocol marked `rems_required` is dosed only at a certified site, so
    an active course of one at `site_id` depends on that site's certification."""
    return (
        course.status is CourseStatus.ACTIVE
        and course.site_id == site_id
        and course.protocol is not None
        and rules.plan(course.protocol).rems_required
    )


def decide_site_certification(
    course: Course, change: CertificationChange, rules: SchedulingRules, stamp: Stamp
) -> Outcome:
    """DESIGN safety invariant 3: an esketamine dose needs the site REMS-certified at the
    moment of the dose, so every service that gates a dose learns a change on the patient's
    own stream: one SiteCertificationChanged per patient whose active course depends on it."""
    if not dosed_on_certification(course, change.site_id, rules):
        return Outcome(course)
    event = SiteCertificationChanged(
        **{
            **stamp.envelope(course.patient_id, change.site_id),
            "event_id": change.event_id(course.patient_id),
        },
        rems_certified=change.rems_certified,
        changed_by=change.changed_by,
    )
    return Outcome(course, (event,))
