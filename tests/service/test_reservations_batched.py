"""A course's reservations go to the database in one round trip for every seat 0 (a course
holds hundreds of slot seats: one insert each bounded scheduling in the pipeline bench), and
only the contested ones are settled seat by seat; the all-or-nothing rule is unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from services.scheduling.decision import Hold
from services.scheduling.errors import SlotTaken
from services.scheduling.network_store import load_config
from services.scheduling.reservations import Reservations
from services.scheduling.slots import Placement
from tests.support.memory import MemoryDatabase

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
AT = NOW + timedelta(days=7, hours=1)


def dose(appointment_id: str, chair: str, days: int = 0) -> Hold:
    start = AT + timedelta(days=days)
    placement = Placement(site_id="site-north", starts_at=start, ends_at=start + timedelta(hours=2),
                          chair_id=chair, provider_id="rn-north-1")  # fmt: skip
    return Hold(appointment_id, placement)


class Counted:
    """The reservations collection, counting the writes that reach it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, {"insert_one": 0, "insert_many": 0}

    def __getattr__(self, name: str) -> Any:
        if name in self.calls:
            self.calls[name] += 1
        return getattr(self.inner, name)


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


async def test_an_uncontested_course_reserves_every_seat_in_one_round_trip(
    db: MemoryDatabase,
) -> None:
    reservations = Reservations(cast(Any, db))
    counted = Counted(reservations.slots)
    reservations.slots = cast(Any, counted)
    holds = [dose("apt-1", "north-chair-1"), dose("apt-2", "north-chair-1", days=3)]

    taken = await reservations.take("pat-1", holds, load_config().network, NOW, live=set())

    slots = db["reservations"].docs
    assert counted.calls == {"insert_one": 0, "insert_many": 1}
    assert set(taken) == {"apt-1", "apt-2"}
    # patient, chair and nurse, eight 15-minute slots each, for two appointments
    assert len(slots) == 2 * 3 * 8 == sum(len(ids) for ids in taken.values())
    assert {d["seat"] for d in slots.values()} == {0}


async def test_a_contested_seat_zero_takes_the_next_seat_of_a_shared_resource(
    db: MemoryDatabase,
) -> None:
    reservations = Reservations(cast(Any, db))
    network = load_config().network
    await reservations.take("pat-1", [dose("apt-1", "north-chair-1")], network, NOW, live=set())

    await reservations.take("pat-2", [dose("apt-2", "north-chair-2")], network, NOW, live=set())

    mine = [d for d in db["reservations"].docs.values() if d["appointment_id"] == "apt-2"]
    nurse = {d["seat"] for d in mine if d["resource"] == "provider:rn-north-1"}
    chair = {d["seat"] for d in mine if d["resource"] == "chair:north-chair-2"}
    assert nurse == {1}, "the nurse watches two chairs: the second patient gets seat 1"
    assert chair == {0}
    assert len(mine) == 3 * 8


async def test_a_taken_chair_refuses_the_whole_hold_and_leaves_no_seat_of_it(
    db: MemoryDatabase,
) -> None:
    reservations = Reservations(cast(Any, db))
    network = load_config().network
    await reservations.take("pat-1", [dose("apt-1", "north-chair-1")], network, NOW, live=set())
    before = dict(db["reservations"].docs)

    holds = [dose("apt-2", "north-chair-2", days=2), dose("apt-3", "north-chair-1")]
    with pytest.raises(SlotTaken):
        await reservations.take("pat-2", holds, network, NOW, live=set())

    assert db["reservations"].docs == before, "nothing of the refused booking is left held"


async def test_releasing_an_appointment_deletes_by_id_equality_never_an_in_scan(
    db: MemoryDatabase,
) -> None:
    """FerretDB 1.x runs `_id: {$in: [...]}` as a scan of the whole reservations collection
    (93 such scans read 710k rows in one pipeline bench run)."""
    reservations = Reservations(cast(Any, db))
    network = load_config().network
    await reservations.take("pat-1", [dose("apt-1", "north-chair-1")], network, NOW, live=set())
    await reservations.take("pat-2", [dose("apt-2", "north-chair-2")], network, NOW, live=set())
    filters: list[dict[str, Any]] = []
    inner = reservations.slots

    class Watched:
        def __getattr__(self, name: str) -> Any:
            method = getattr(inner, name)
            if not name.startswith("delete"):
                return method

            async def delete(query: dict[str, Any]) -> Any:
                filters.append(query)
                return await method(query)

            return delete

    reservations.slots = cast(Any, Watched())

    dropped = await reservations.release(["apt-1"], {})

    left = {d["appointment_id"] for d in db["reservations"].docs.values()}
    assert dropped == 3 * 8
    assert left == {"apt-2"}
    assert filters
    assert not any(isinstance(f.get("_id"), dict) for f in filters)
