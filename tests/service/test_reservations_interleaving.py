"""Two instances deciding the same patient's booking: the one whose decision is stale takes
the winner's fresh seats over (to it they look like a crashed attempt of the patient), then
loses the compare-and-set. Found by a fault-injection run (seed 118): the winner's course kept
appointments whose chair was freed, and the next patient was booked into that chair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.runtime.aggregate import ConcurrentUpdate
from services.scheduling.booking import Booking
from services.scheduling.decision import Hold, Outcome
from services.scheduling.network_store import load_config
from services.scheduling.reservations import Reservations
from services.scheduling.slots import Placement
from tests.support.memory import MemoryDatabase

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
AT = NOW + timedelta(days=7, hours=1)


def dose(appointment_id: str) -> Hold:
    placement = Placement(site_id="site-north", starts_at=AT, ends_at=AT + timedelta(hours=2),
                          chair_id="north-chair-1")  # fmt: skip
    return Hold(appointment_id, placement)


async def test_seats_taken_over_by_a_losing_decision_go_back_to_the_booking_that_won() -> None:
    db = MemoryDatabase()
    reservations = Reservations(cast(Any, db))
    slots = db["reservations"].docs
    network = load_config().network
    winner, stale = dose("apt-pat-1-dose-2-a"), dose("apt-pat-1-dose-2-b")
    await reservations.take("pat-1", [winner], network, NOW, live=set())
    chair = {rid for rid, doc in slots.items()
             if doc["resource"] == "chair:north-chair-1"}  # fmt: skip

    replaced: list[dict[str, Any]] = []
    await reservations.take("pat-1", [stale], network, NOW, live=set(), replaced=replaced)
    assert replaced, "the stale decision took the winner's seats over"
    # The stale decision's commit loses: undo it as the booking's hold does.
    await reservations.release([stale.appointment_id], {})
    await reservations.restore(replaced)

    holders = {slots.get(rid, {}).get("appointment_id") for rid in chair}
    assert holders == {winner.appointment_id}, "the winner's chair is still reserved for it"


async def test_a_losing_decision_frees_only_its_own_seats_not_the_winners_of_its_appointment() -> (
    None
):
    """Fault-injection seed 113: two instances decided one approval (a paused instance's
    partitions moved); both decisions book the same appointment ids. The loser found the
    winner's seats held by those ids, reused them, lost the compare-and-set and released every
    seat of those appointment ids: the winner's course kept doses 2-8 on seats nobody held,
    and the next patient was booked into them."""
    db = MemoryDatabase()
    reservations = Reservations(cast(Any, db))
    slots = db["reservations"].docs
    network = load_config().network
    winner = dose("apt-pat-1-dose-2")
    await reservations.take("pat-1", [winner], network, NOW, live=set())
    held = dict(slots)
    loser = Booking(reservations, cast(Any, None), cast(Any, None), "pat-1", cast(Any, None),
                    cast(Any, None), cast(Any, SimpleNamespace(now=NOW)),
                    outcome=Outcome(cast(Any, None), take=(dose("apt-pat-1-dose-2"),)),
                    network=network)  # fmt: skip

    with pytest.raises(ConcurrentUpdate):
        async with loser.hold(cast(Any, None), ()):
            raise ConcurrentUpdate("pat-1")

    assert slots == held, "the winner's seats are still held by its appointment"
