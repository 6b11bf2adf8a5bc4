"""Scheduling's clinic network: sites, rooms and chairs, providers, weekly hours and absences.

Scheduling owns these (DESIGN: services table). The shared network file `config/network.yaml`
(NETWORK_CONFIG overrides the path) gives the starting network; the admin API stores
sites and providers in MongoDB, and those documents override the seed entry of the same id.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from contracts.envelope import EntityId


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @classmethod
    def of(cls, day: date) -> Weekday:
        return list(cls)[day.weekday()]


def _window(value: Any) -> Any:
    """'08:00-18:00' in the seed file reads as a window."""
    if isinstance(value, str) and "-" in value:
        start, end = value.split("-", 1)
        return {"start": start.strip(), "end": end.strip()}
    return value


WALL_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _wall_clock(value: Any) -> Any:
    """Opening hours are the site's own clock (its `time_zone` places them), so an offset or
    a fraction of a second has no meaning there: "08:00" or "08:00:00"."""
    if isinstance(value, time) and value.tzinfo is None and not value.microsecond:
        return value
    if isinstance(value, str) and re.fullmatch(WALL_CLOCK, value):
        return value
    raise ValueError("expected the site's local time as HH:MM or HH:MM:SS, without an offset")


LocalTime = Annotated[
    time,
    BeforeValidator(_wall_clock),
    WithJsonSchema({"type": "string", "pattern": WALL_CLOCK, "examples": ["08:00", "18:30:00"]}),
]
"""Read as "HH:MM[:SS]", written as "HH:MM:SS"; the schema says exactly that (JSON Schema's
`format: time` would demand an offset the hours never carry)."""


class Window(BaseModel):
    """A local wall-clock interval within one day, e.g. 08:00-18:00."""

    model_config = ConfigDict(frozen=True)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start >= self.end:
            raise ValueError("a window must end after it starts")
        return self

    def covers(self, start: time, end: time) -> bool:
        return self.start <= start and end <= self.end


WindowIn = Annotated[Window, BeforeValidator(_window)]
WeeklyHours = dict[Weekday, tuple[WindowIn, ...]]


def covered(hours: WeeklyHours, start: datetime, end: datetime) -> bool:
    """Both ends on the same local day and inside one of that weekday's windows."""
    if start.date() != end.date() and end.time() != time(0):
        return False
    stop = end.time() if end.date() == start.date() else time.max
    return any(w.covers(start.time(), stop) for w in hours.get(Weekday.of(start.date()), ()))


class RoomKind(StrEnum):
    MONITORING = "monitoring"
    THERAPY = "therapy"


class Room(BaseModel):
    """A monitoring room holds chairs (its capacity is its chair count); a therapy room hosts
    `capacity` preparation or integration sessions at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    room_id: EntityId
    kind: RoomKind
    chairs: tuple[EntityId, ...] = ()
    capacity: int = Field(default=1, ge=1, le=20)

    @model_validator(mode="after")
    def _chairs_only_in_monitoring_rooms(self) -> Room:
        if self.kind is RoomKind.MONITORING and not self.chairs:
            raise ValueError("a monitoring room needs at least one chair")
        if self.kind is RoomKind.THERAPY and self.chairs:
            raise ValueError("chairs belong in monitoring rooms")
        return self


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    site_id: EntityId
    name: str = Field(min_length=1, max_length=100)
    time_zone: str
    rems_certified: bool
    hours: WeeklyHours
    closed_days: tuple[date, ...] = ()
    rooms: tuple[Room, ...] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def chairs(self) -> tuple[str, ...]:
        return tuple(c for r in self.rooms if r.kind is RoomKind.MONITORING for c in r.chairs)

    @property
    def therapy_rooms(self) -> tuple[Room, ...]:
        return tuple(r for r in self.rooms if r.kind is RoomKind.THERAPY)

    def open_on(self, day: date) -> bool:
        return day not in self.closed_days and bool(self.hours.get(Weekday.of(day)))


class ProviderRole(StrEnum):
    PSYCHIATRIST = "psychiatrist"
    NURSE = "nurse"
    THERAPIST = "therapist"


class Absence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    starts_on: date
    ends_on: date
    reason: str = Field(default="leave", max_length=100)

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


class Provider(BaseModel):
    """`max_concurrent` patients at once: a monitoring nurse may watch several chairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    provider_id: EntityId
    role: ProviderRole
    sites: tuple[EntityId, ...] = Field(min_length=1)
    availability: WeeklyHours
    absences: tuple[Absence, ...] = ()
    max_concurrent: int = Field(default=1, ge=1, le=10)

    def works(self, site_id: str, start: datetime, end: datetime) -> bool:
        """At `site_id` between these site-local times, per weekly availability, not absent."""
        if site_id not in self.sites or any(a.covers(start.date()) for a in self.absences):
            return False
        return covered(self.availability, start, end)


class ClinicNetwork(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sites: tuple[Site, ...] = ()
    providers: tuple[Provider, ...] = ()

    @cached_property
    def _sites(self) -> dict[str, Site]:
        return {s.site_id: s for s in reversed(self.sites)}  # the first of an id wins

    @cached_property
    def _providers(self) -> dict[str, Provider]:
        return {p.provider_id: p for p in reversed(self.providers)}

    def site(self, site_id: str) -> Site | None:
        """By id, without a scan: a booking decision asks for every placement it tries."""
        return self._sites.get(site_id)

    def provider(self, provider_id: str) -> Provider | None:
        return self._providers.get(provider_id)

    def staff(self, site_id: str, role: ProviderRole) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if p.role is role and site_id in p.sites)

    def overlaid(self, sites: list[Site], providers: list[Provider]) -> ClinicNetwork:
        """This network with `sites` and `providers` replacing (or adding to) entries by id."""
        site_ids = {s.site_id for s in sites}
        provider_ids = {p.provider_id for p in providers}
        return ClinicNetwork(
            sites=(*(s for s in self.sites if s.site_id not in site_ids), *sites),
            providers=(
                *(p for p in self.providers if p.provider_id not in provider_ids),
                *providers,
            ),
        )
