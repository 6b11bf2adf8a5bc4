"""A small clinic network, stamps and events for scheduling's pure tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from uuid import UUID

from contracts.envelope import EventBase, Stamp
from contracts.intake import EligibilityDecided
from contracts.vocabulary import Decision, Protocol
from services.scheduling.course import Course
from services.scheduling.decision import Context, Outcome
from services.scheduling.domain import decide_eligibility
from services.scheduling.network import ClinicNetwork, Provider, Room, Site
from services.scheduling.rules import SchedulingRules
from services.scheduling.slots import Occupancy

WEEKDAYS = {d: ("08:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")}


def site(
    site_id: str = "site-ny",
    zone: str = "America/New_York",
    rems: bool = True,
    closed: tuple[date, ...] = (),
    chairs: int = 2,
) -> Site:
    return Site.model_validate(
        {
            "site_id": site_id,
            "name": site_id,
            "time_zone": zone,
            "rems_certified": rems,
            "hours": WEEKDAYS,
            "closed_days": closed,
            "rooms": [
                Room(
                    room_id=f"{site_id}-mon",
                    kind="monitoring",
                    chairs=tuple(f"{site_id}-chair-{n}" for n in range(1, chairs + 1)),
                ),
                Room(room_id=f"{site_id}-therapy", kind="therapy"),
            ],
        }
    )


def staff(site_id: str, nurses: int = 1) -> tuple[Provider, ...]:
    people = [
        Provider.model_validate(
            {
                "provider_id": f"rn-{site_id}-{n}",
                "role": "nurse",
                "sites": [site_id],
                "availability": WEEKDAYS,
                "max_concurrent": 2,
            }
        )
        for n in range(1, nurses + 1)
    ]
    people.append(
        Provider.model_validate(
            {
                "provider_id": f"th-{site_id}",
                "role": "therapist",
                "sites": [site_id],
                "availability": WEEKDAYS,
            }
        )
    )
    return tuple(people)


def network(*sites: Site) -> ClinicNetwork:
    chosen = sites or (site(),)
    return ClinicNetwork(sites=chosen, providers=tuple(p for s in chosen for p in staff(s.site_id)))


def utc(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=UTC)


def stamp(now: datetime, seed: int = 1) -> Stamp:
    ids = count(seed)
    return Stamp(now, "scheduling", UUID(int=10**6 + seed), lambda: UUID(int=next(ids)))


def context(
    net: ClinicNetwork,
    now: datetime,
    occupancy: Occupancy | None = None,
    rules: SchedulingRules | None = None,
) -> Context:
    return Context(net, occupancy or Occupancy(), stamp(now), rules or SchedulingRules())


def approval(
    patient_id: str,
    at: datetime,
    site_id: str = "site-ny",
    protocol: Protocol = Protocol.ESKETAMINE_TRD,
    planned: int | None = None,
) -> EligibilityDecided:
    return EligibilityDecided(
        **stamp(at, 500).envelope(patient_id, site_id),
        decision=Decision.APPROVED,
        decided_by="dr-test",
        protocol=protocol,
        planned_doses=planned,
    )


def approve(
    net: ClinicNetwork, at: datetime, patient_id: str = "pat-1", **kwargs: object
) -> Outcome:
    decided = approval(patient_id, at, **kwargs)  # type: ignore[arg-type]
    return decide_eligibility(None, decided, context(net, at))


def local_days(course: Course, kind: str, zone: str = "America/New_York") -> list[date]:
    from zoneinfo import ZoneInfo

    return [
        a.starts_at.astimezone(ZoneInfo(zone)).date() for a in course.appointments if a.kind == kind
    ]


def week_of(day: date, anchor: date) -> int:
    return (day - anchor).days // 7


def event_types(events: tuple[EventBase, ...]) -> list[str]:
    return [e.event_type for e in events]


ONE_DAY = timedelta(days=1)
