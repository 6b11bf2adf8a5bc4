"""A site's REMS certification change, stored and told to every patient whose course it gates."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import EventBase, Stamp
from services.runtime.aggregate import AggregateStore
from services.scheduling.course import Course
from services.scheduling.errors import CourseNotFound
from services.scheduling.network import Site
from services.scheduling.network_store import NetworkStore
from services.scheduling.rems import (
    CertificationChange,
    decide_site_certification,
    dosed_on_certification,
)
from services.scheduling.rules import SchedulingRules


class SiteCertifications:
    """Stores sites for the admin API; a certification change reaches the courses it gates."""

    def __init__(
        self,
        store: AggregateStore[Course],
        networks: NetworkStore,
        rules: SchedulingRules,
        stamp: Callable[[], Stamp],
    ) -> None:
        self.store = store
        self.networks = networks
        self.rules = rules
        self.stamp = stamp

    async def put(self, site: Site, changed_by: str) -> None:
        """Store the site. When it changes the certification of a site the network already
        has, the affected patients are told before the site is stored (a PUT retried after a
        failure finds the change again and tells whoever it missed; the events' ids are stable
        per change, so nobody twice) and once more after (a course that became active at the
        site in between)."""
        stored = (await self.networks.load()).site(site.site_id)
        changes = await self.networks.certification_changes(site.site_id)
        if stored is None or stored.rems_certified == site.rems_certified:
            await self.networks.put(site, certification_changes=changes)
            return
        change = CertificationChange(site.site_id, site.rems_certified, changed_by, changes + 1)
        stamp = self.stamp()
        await self._tell(change, stamp)
        await self.networks.put(site, certification_changes=change.number)
        await self._tell(change, stamp)

    async def _tell(self, change: CertificationChange, stamp: Stamp) -> None:
        for patient_id in await self._courses_at(change.site_id):
            await self._tell_one(patient_id, change, stamp)

    async def _tell_one(self, patient_id: str, change: CertificationChange, stamp: Stamp) -> None:
        """Through the course's aggregate store: outbox, inbox (the change's stable event id,
        so a second attempt is a no-op) and compare-and-set."""

        def decide(course: Course | None) -> tuple[Course, tuple[EventBase, ...]]:
            if course is None:
                raise CourseNotFound(patient_id)
            outcome = decide_site_certification(course, change, self.rules, stamp)
            return outcome.course, outcome.events

        event_id = str(change.event_id(patient_id))
        await self.store.apply(patient_id, decide, inbox=[event_id])

    async def _courses_at(self, site_id: str) -> list[str]:
        """Patients whose course the change concerns now. Courses stored before `site_id` was
        indexed have none (null matches a missing field) and are read to be sure."""
        found = self.store.collection.find({"site_id": {"$in": [site_id, None]}}, {"state": 1})
        return [
            doc["_id"]
            async for doc in found
            if dosed_on_certification(Course.model_validate(doc["state"]), site_id, self.rules)
        ]
