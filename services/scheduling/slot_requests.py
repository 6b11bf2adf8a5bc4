"""Slots people ask for: a requested slot checked rule by rule (so the caller learns exactly
what is wrong), and the free slots a search lists on the site-local days it covers.

Pure, like slots.py whose placements they use.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.scheduling import errors
from services.scheduling.network import ClinicNetwork, Site
from services.scheduling.slots import (
    Need,
    Occupancy,
    Placement,
    Wanted,
    candidate_times,
    fit,
    local,
    on_grid,
    within_hours,
)


def check(
    need: Need,
    site: Site,
    network: ClinicNetwork,
    occupancy: Occupancy,
    patient_id: str,
    start: datetime,
    now: datetime,
    wanted: Wanted,
) -> Placement:
    """A requested slot, validated rule by rule so the caller learns exactly what is wrong."""
    end = start + timedelta(minutes=need.minutes)
    if start < now:
        raise errors.SlotInPast(start.isoformat())
    if not on_grid(start):
        raise errors.NotOnGrid(start.isoformat())
    if not site.open_on(local(start, site).date()):
        raise errors.SiteClosed(local(start, site).date().isoformat())
    if not within_hours(site, start, end):
        raise errors.OutsideSiteHours(f"{local(start, site)}-{local(end, site).time()}")
    if wanted.provider_id is not None:
        provider = network.provider(wanted.provider_id)
        if provider is None:
            raise errors.UnknownProvider(wanted.provider_id)
        if provider.role is not need.role or site.site_id not in provider.sites:
            raise errors.ProviderNotQualified(wanted.provider_id)
        if not provider.works(site.site_id, local(start, site), local(end, site)):
            raise errors.ProviderUnavailable(wanted.provider_id)
    if wanted.chair_id is not None and wanted.chair_id not in site.chairs:
        raise errors.UnknownChair(wanted.chair_id)
    if wanted.room_id is not None and wanted.room_id not in {r.room_id for r in site.therapy_rooms}:
        raise errors.UnknownChair(wanted.room_id)
    placement = fit(need, site, network, occupancy, patient_id, start, end, wanted)
    if placement is None:
        raise errors.SlotTaken(f"{site.site_id} {start.isoformat()}")
    return placement


def search_days(site: Site, start: date | None, days: int, now: datetime) -> list[date]:
    """Site-local days to look for free slots, from `start` (the site's today by default);
    appointments cannot start in the past, so neither can a search."""
    today = now.astimezone(site.zone).date()
    first = start or today
    if first < today:
        raise errors.SlotInPast(first.isoformat())
    return [first + timedelta(days=n) for n in range(days)]


def available(
    need: Need,
    site: Site,
    network: ClinicNetwork,
    occupancy: Occupancy,
    patient_id: str,
    days: list[date],
    now: datetime,
    limit: int = 200,
) -> list[Placement]:
    """Free placements (one per start time) on these site-local days, earliest first."""
    found: list[Placement] = []
    for day in days:
        for start, end in candidate_times(site, day, need.minutes):
            if start < now:
                continue
            placement = fit(need, site, network, occupancy, patient_id, start, end)
            if placement is not None:
                found.append(placement)
                if len(found) >= limit:
                    return found
    return found
