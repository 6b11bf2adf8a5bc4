"""The coach roster: capacity (configuration), availability (set by site admins) and the
pure choice of a coach for a patient."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import EventBase, UtcDatetime
from services.runtime.refusals import RuleViolation

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "coaching.yaml"


class NoCoachAtSiteError(RuleViolation):
    """DESIGN: coaches are assigned per site, but the site has no available coach and no
    site lead to cover."""


class CoachCapacity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    capacity: int = Field(ge=1)


class Roster(BaseModel):
    """Caseload limits per coach. Clinic policy; the AIMS Center's collaborative-care guidance
    puts a full-time care manager's active caseload at roughly 50-80 patients, hence 60."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    default_capacity: int = Field(default=60, ge=1)
    coaches: dict[str, CoachCapacity] = Field(default_factory=dict)

    def capacity(self, coach_id: str) -> int:
        found = self.coaches.get(coach_id)
        return found.capacity if found else self.default_capacity


def load_roster(path: str | None = None) -> Roster:
    source = Path(path) if path else DEFAULT_PATH
    if not source.exists():
        return Roster()
    return Roster.model_validate(yaml.safe_load(source.read_text()) or {})


class Availability(StrEnum):
    AVAILABLE = "available"
    ABSENT = "absent"
    LEFT = "left"


class CoachAvailability(BaseModel):
    """One coach's availability at one site (aggregate key `site_id/coach_id`)."""

    site_id: str
    coach_id: str
    status: Availability = Availability.AVAILABLE
    until: UtcDatetime | None = None
    changed_at: UtcDatetime | None = None

    def unavailable_at(self, now: datetime) -> Availability | None:
        """Why the coach takes no patients at `now` (None: available). An absence with an end
        ends by itself; one without lasts until an admin marks the coach available again."""
        if self.status is Availability.ABSENT and self.until is not None and self.until <= now:
            return None
        return None if self.status is Availability.AVAILABLE else self.status


def availability_key(site_id: str, coach_id: str) -> str:
    return f"{site_id}/{coach_id}"


def decide_availability(
    current: CoachAvailability | None,
    site_id: str,
    coach_id: str,
    status: Availability,
    until: datetime | None,
    now: datetime,
) -> tuple[CoachAvailability, list[EventBase]]:
    """Record the coach's availability; it emits nothing itself (each moved patient's
    `CoachAssigned` does)."""
    return CoachAvailability(
        site_id=site_id,
        coach_id=coach_id,
        status=status,
        until=until if status is Availability.ABSENT else None,
        changed_at=now,
    ), []


@dataclass
class CoachPool:
    """What assignment knows about a site's coaches: patients per *available* coach, why the
    others are unavailable, caseload limits and the site lead who covers when nobody can."""

    loads: dict[str, int]
    unavailable: Mapping[str, Availability] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    site_lead: str | None = None
    default_capacity: int = 60

    def limit(self, coach_id: str) -> int:
        return self.capacity.get(coach_id, self.default_capacity)

    def choose(self, exclude: str | None = None) -> tuple[str, bool]:
        """DESIGN: coaches are assigned per site, least loaded first; ties go to the lowest
        coach id so the choice is deterministic. Coaches under capacity come first; when all
        are full the patient still gets the least-over coach (flagged `over_capacity`: a
        follow-up plan must never wait for a free slot); with no available coach at all the
        site lead covers. Returns (coach, over_capacity)."""
        candidates = {c: n for c, n in self.loads.items() if c != exclude}
        under = [c for c, n in candidates.items() if n < self.limit(c)]
        if under:
            return min(under, key=lambda c: (candidates[c], c)), False
        if candidates:
            return min(candidates, key=lambda c: (candidates[c] - self.limit(c), c)), True
        if self.site_lead is not None and self.site_lead != exclude:
            return self.site_lead, False
        raise NoCoachAtSiteError()

    def took(self, coach_id: str) -> None:
        """Count a patient just assigned, so a batch of moves spreads over the site."""
        if coach_id in self.loads:
            self.loads[coach_id] += 1
