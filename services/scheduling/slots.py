"""Where an appointment fits: site-local candidate times, resource claims and occupancy.

Pure: the booker reads occupancy from the reservations collection and passes it in; the
database's unique reservation ids are the final arbiter when two bookers race.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from contracts.vocabulary import AppointmentKind
from services.scheduling.network import ClinicNetwork, ProviderRole, Site, Weekday, covered
from services.scheduling.rules import GRID_MINUTES

GRID = timedelta(minutes=GRID_MINUTES)


@dataclass(frozen=True)
class Need:
    """What an appointment kind needs: dosing and boosters a monitoring chair and a nurse
    (DESIGN treatment day: monitored setting), preparation and integration a therapist and a
    therapy room (DESIGN journey steps 3 and 5)."""

    kind: AppointmentKind
    minutes: int
    role: ProviderRole
    chair: bool

    @classmethod
    def of(cls, kind: AppointmentKind, minutes: int) -> Need:
        dosing = kind in (AppointmentKind.DOSING, AppointmentKind.BOOSTER)
        role = ProviderRole.NURSE if dosing else ProviderRole.THERAPIST
        return cls(kind, minutes, role, chair=dosing)


class Placement(BaseModel):
    """Where and when, with which resources."""

    model_config = ConfigDict(frozen=True)
    site_id: str
    starts_at: datetime
    ends_at: datetime
    chair_id: str | None = None
    room_id: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True)
class Claim:
    resource: str
    capacity: int


def claims(placement: Placement, patient_id: str, network: ClinicNetwork) -> tuple[Claim, ...]:
    """Everything a placement occupies: its chair, room, provider and the patient."""
    found: list[Claim] = [Claim(f"patient:{patient_id}", 1)]
    if placement.chair_id:
        found.append(Claim(f"chair:{placement.chair_id}", 1))
    site = network.site(placement.site_id)
    room = next((r for r in site.rooms if r.room_id == placement.room_id), None) if site else None
    if placement.room_id:
        found.append(Claim(f"room:{placement.room_id}", room.capacity if room else 1))
    provider = network.provider(placement.provider_id) if placement.provider_id else None
    if placement.provider_id:
        found.append(
            Claim(f"provider:{placement.provider_id}", provider.max_concurrent if provider else 1)
        )
    return tuple(found)


def grid_slots(start: datetime, end: datetime) -> list[datetime]:
    slots, at = [], start.astimezone(UTC)
    while at < end:
        slots.append(at)
        at += GRID
    return slots


def on_grid(instant: datetime) -> bool:
    utc = instant.astimezone(UTC)
    return utc.second == 0 and utc.microsecond == 0 and utc.minute % GRID_MINUTES == 0


@dataclass
class Occupancy:
    """How many seats of each resource are taken per grid slot, on the UTC days it covers.

    `covers` None means every day is known. A slot on a day outside the cover counts as free
    and its day lands in `unknown` (shared by every copy): the booker then reads those days
    and decides again, so a decision reads the days it places on, not a whole horizon.
    """

    taken: dict[tuple[str, datetime], int] = field(default_factory=dict)
    covers: frozenset[date] | None = None
    unknown: set[date] = field(default_factory=set)

    def free(self, wanted: tuple[Claim, ...], start: datetime, end: datetime) -> bool:
        slots = grid_slots(start, end)
        if self.full(wanted, slots):
            return False
        self.unknown.update(s.date() for s in slots if not self.knows(s))
        return True

    def full(self, wanted: tuple[Claim, ...], slots: list[datetime]) -> bool:
        """Some claim is at capacity in a known slot (no record of unknown days)."""
        return any(
            self.taken.get((c.resource, s), 0) >= c.capacity
            for c in wanted
            for s in slots
            if self.knows(s)
        )

    def knows(self, slot: datetime) -> bool:
        return self.covers is None or slot.astimezone(UTC).date() in self.covers

    def add(self, wanted: tuple[Claim, ...], start: datetime, end: datetime) -> None:
        for c in wanted:
            for s in grid_slots(start, end):
                self.taken[(c.resource, s)] = self.taken.get((c.resource, s), 0) + 1

    def remove(self, wanted: tuple[Claim, ...], start: datetime, end: datetime) -> None:
        for c in wanted:
            for s in grid_slots(start, end):
                key = (c.resource, s)
                self.taken[key] = max(0, self.taken.get(key, 0) - 1)

    def copy(self) -> Occupancy:
        return Occupancy(dict(self.taken), self.covers, self.unknown)

    def merged(self, other: Occupancy) -> Occupancy:
        """This occupancy plus days read later (`other` covers days this one does not)."""
        covers = None if self.covers is None or other.covers is None else self.covers | other.covers
        return Occupancy({**self.taken, **other.taken}, covers)


def local(instant: datetime, site: Site) -> datetime:
    return instant.astimezone(site.zone)


def within_hours(site: Site, start: datetime, end: datetime) -> bool:
    return covered(site.hours, local(start, site), local(end, site))


def candidate_times(site: Site, day: date, minutes: int) -> Iterator[tuple[datetime, datetime]]:
    """Every grid start on `day` (site-local) whose whole slot fits in the opening hours, as
    UTC. Lengths are added in UTC, so a slot keeps its real duration across a DST change."""
    if not site.open_on(day):
        return
    length = timedelta(minutes=minutes)
    for window in site.hours.get(Weekday.of(day), ()):
        at = datetime.combine(day, window.start, tzinfo=site.zone).astimezone(UTC)
        while local(at, site).date() == day and local(at, site).time() < window.end:
            if on_grid(at) and within_hours(site, at, at + length):
                yield at, at + length
            at += GRID


@dataclass(frozen=True)
class Wanted:
    """A specific chair, room or provider the caller asked for (None: any that is free)."""

    chair_id: str | None = None
    room_id: str | None = None
    provider_id: str | None = None


def fit(
    need: Need,
    site: Site,
    network: ClinicNetwork,
    occupancy: Occupancy,
    patient_id: str,
    start: datetime,
    end: datetime,
    wanted: Wanted = Wanted(),
) -> Placement | None:
    """The first free combination of chair or room and provider for this exact slot."""
    from_local, to_local = local(start, site), local(end, site)
    providers = [
        p.provider_id
        for p in network.staff(site.site_id, need.role)
        if p.works(site.site_id, from_local, to_local)
        and (wanted.provider_id is None or p.provider_id == wanted.provider_id)
    ]
    spaces: list[tuple[str | None, str | None]]
    if need.chair:
        spaces = [(c, None) for c in site.chairs if wanted.chair_id in (None, c)]
    else:
        spaces = [
            (None, r.room_id) for r in site.therapy_rooms if wanted.room_id in (None, r.room_id)
        ]
    # Each resource is free or not on its own, so the first free (space, provider) pair in
    # that order is the first free space with the first free provider: spaces + providers
    # checks instead of their product (a grown network made the product the booking's cost).
    slots = grid_slots(start, end)

    def free(**parts: str | None) -> bool:
        alone = Placement(site_id=site.site_id, starts_at=start, ends_at=end, **parts)
        return not occupancy.full(claims(alone, patient_id, network), slots)

    space = next(((c, r) for c, r in spaces if free(chair_id=c, room_id=r)), None)
    provider = next((p for p in providers if free(provider_id=p)), None)
    if space is None or provider is None:
        return None
    placement = Placement(site_id=site.site_id, starts_at=start, ends_at=end, chair_id=space[0],
                          room_id=space[1], provider_id=provider)  # fmt: skip
    return placement if occupancy.free(claims(placement, patient_id, network), start, end) else None


def first_fit(
    need: Need,
    site: Site,
    network: ClinicNetwork,
    occupancy: Occupancy,
    patient_id: str,
    day: date,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Placement | None:
    """The earliest free placement on `day` between the bounds (UTC instants)."""
    for start, end in candidate_times(site, day, need.minutes):
        if (not_before and start < not_before) or (not_after and end > not_after):
            continue
        placement = fit(need, site, network, occupancy, patient_id, start, end)
        if placement is not None:
            return placement
    return None
