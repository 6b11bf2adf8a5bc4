"""Each instance relays the outbox entries it committed; another instance's only once they
have waited too long (that instance died): two instances do not both publish every event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel

from harness.events import referred, stamp
from services.runtime.aggregate import AggregateStore
from services.runtime.outbox import relay_outbox
from tests.support.memory import MemoryCollection


class Counter(BaseModel):
    seen: int = 0


def instances() -> tuple[AggregateStore[Counter], AggregateStore[Counter], list[Any]]:
    docs = cast(Any, MemoryCollection())
    first, second = AggregateStore(docs, Counter), AggregateStore(docs, Counter)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    first.clock = second.clock = lambda: now
    return first, second, []


async def test_the_committing_instance_relays_and_the_other_does_not() -> None:
    first, second, published = instances()
    event = referred("pat-1", s=stamp(seed=1))
    await first.apply("pat-1", lambda state: (Counter(seen=1), [event]))

    async def publish(entry: Any) -> None:
        published.append(entry["event_id"])

    assert await relay_outbox(second, publish) == 0
    assert await relay_outbox(first, publish) == 1
    assert published == [str(event.event_id)]
    assert (await first.load("pat-1")).outbox == ()


async def test_an_outbox_left_too_long_is_relayed_by_another_instance() -> None:
    first, second, published = instances()
    event = referred("pat-2", s=stamp(seed=2))
    await first.apply("pat-2", lambda state: (Counter(seen=1), [event]))
    later = first.clock() + second.orphaned_after + timedelta(seconds=1)
    second.clock = lambda: later

    async def publish(entry: Any) -> None:
        published.append(entry["event_id"])

    assert await relay_outbox(second, publish) == 1
    assert published == [str(event.event_id)]
    assert await relay_outbox(first, publish) == 0, "already relayed: nothing twice"


async def test_an_entry_appended_while_relaying_stays_and_nothing_is_published_twice() -> None:
    first, second, published = instances()
    one, two = referred("pat-3", s=stamp(seed=3)), referred("pat-3", s=stamp(seed=4))
    await first.apply("pat-3", lambda state: (Counter(seen=1), [one]))

    async def publish(entry: Any) -> None:
        published.append(entry["event_id"])
        if entry["event_id"] == str(one.event_id):
            await second.apply("pat-3", lambda state: (Counter(seen=2), [two]))

    assert await relay_outbox(first, publish) == 1
    assert [e["event_id"] for e in (await first.load("pat-3")).outbox] == [str(two.event_id)]
    assert await relay_outbox(second, publish) == 1
    assert published == [str(one.event_id), str(two.event_id)]
    assert (await first.load("pat-3")).outbox == ()
