"""`fit` checks spaces and providers apart (their sum, not their product); it must choose
exactly the placement the exhaustive search over every (space, provider) pair chooses, and
record the same unknown days, on any occupancy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.vocabulary import AppointmentKind
from services.scheduling.network_store import load_config
from services.scheduling.slots import (
    Need,
    Occupancy,
    Placement,
    claims,
    fit,
)

NETWORK = load_config().network
DAY = date(2027, 1, 6)  # a Wednesday: every north provider works some of it


def exhaustive(need: Need, site_id: str, occupancy: Occupancy, start: datetime) -> Placement | None:
    site = NETWORK.site(site_id)
    assert site is not None
    end = start + timedelta(minutes=need.minutes)
    spaces = (
        [(c, None) for c in site.chairs]
        if need.chair
        else [(None, r.room_id) for r in site.therapy_rooms]
    )
    local = (start.astimezone(site.zone), end.astimezone(site.zone))
    providers = [
        p.provider_id for p in NETWORK.staff(site_id, need.role) if p.works(site_id, *local)
    ]
    for chair_id, room_id in spaces:
        for provider_id in providers:
            placement = Placement(site_id=site_id, starts_at=start, ends_at=end, chair_id=chair_id,
                                  room_id=room_id, provider_id=provider_id)  # fmt: skip
            if occupancy.free(claims(placement, "pat-1", NETWORK), start, end):
                return placement
    return None


NEEDS = [Need.of(AppointmentKind.DOSING, 120), Need.of(AppointmentKind.INTEGRATION, 60)]
RESOURCES = [
    "patient:pat-1",
    *(f"chair:{c}" for s in NETWORK.sites for c in s.chairs),
    *(f"room:{r.room_id}" for s in NETWORK.sites for r in s.therapy_rooms),
    *(f"provider:{p.provider_id}" for p in NETWORK.providers),
]
START = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)


@settings(max_examples=300, deadline=None)
@given(
    need=st.sampled_from(NEEDS),
    site_id=st.sampled_from(["site-north", "site-south"]),
    offset=st.integers(0, 24),
    taken=st.lists(
        st.tuples(st.sampled_from(RESOURCES), st.integers(0, 40), st.integers(1, 2)), max_size=40
    ),
    known_days=st.sampled_from([None, frozenset(), frozenset({DAY})]),
)
def test_fit_chooses_what_trying_every_pair_chooses(
    need: Need,
    site_id: str,
    offset: int,
    taken: list[tuple[str, int, int]],
    known_days: frozenset[date] | None,
) -> None:
    start = START + timedelta(minutes=15 * offset)
    held = {(r, START + timedelta(minutes=15 * n)): k for r, n, k in taken}
    ours, theirs = Occupancy(dict(held), known_days), Occupancy(dict(held), known_days)
    site = NETWORK.site(site_id)
    assert site is not None

    chosen = fit(need, site, NETWORK, ours, "pat-1", start, start + timedelta(minutes=need.minutes))

    assert chosen == exhaustive(need, site_id, theirs, start)
    assert ours.unknown == theirs.unknown
