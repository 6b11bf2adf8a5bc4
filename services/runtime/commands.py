"""The one path of an HTTP command: load once, check the caller's scope on the record as
stored (inside the write, so a concurrent change of site is seen), decide in the domain,
commit with the command's `Idempotency-Key` in the inbox (`idempotency`). A record that is
missing or outside the caller's sites is the same 404, so scope reveals nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from contracts import EventBase
from services.runtime.aggregate import AggregateStore, Applied, Hold, Outcome
from services.runtime.auth import Principal
from services.runtime.idempotency import inbox_id
from services.runtime.refusals import NotFound

S = TypeVar("S", bound=BaseModel)
Decision = Callable[[S], "Outcome[S] | Awaitable[Outcome[S]]"]


@dataclass(frozen=True)
class Changed(Generic[S]):
    state: S
    events: tuple[EventBase, ...]
    duplicate: bool


@dataclass(frozen=True)
class Commands(Generic[S]):
    store: AggregateStore[S]
    missing: Callable[[str], NotFound]
    """The 404 refusal naming the record kind."""
    in_scope: Callable[[Principal, S], bool]

    async def read(self, key: str, principal: Principal) -> S:
        state = (await self.store.load(key)).state
        if state is None or not self.in_scope(principal, state):
            raise self.missing(key)
        return state

    async def change(
        self, key: str, principal: Principal, decide: Decision[S], *, hold: Hold[S] | None = None
    ) -> Changed[S]:
        """Decide on the stored record and commit: the new record and its events (or, for a
        retried command already applied, the record as it stands and no events)."""

        def scoped(state: S | None) -> Outcome[S] | Awaitable[Outcome[S]]:
            if state is None or not self.in_scope(principal, state):
                raise self.missing(key)
            return decide(state)

        applied = await self.store.apply(key, scoped, inbox=inbox(), hold=hold)
        return Changed(self.stored(applied, key), applied.events, applied.duplicate)

    async def create(
        self,
        key: str,
        decide: Callable[[S | None], Outcome[S] | Awaitable[Outcome[S]]],
        *,
        hold: Hold[S] | None = None,
    ) -> Applied[S]:
        """A command that may start the record (the caller checked scope on the request)."""
        return await self.store.apply(key, decide, inbox=inbox(), hold=hold)

    def stored(self, applied: Applied[S], key: str) -> S:
        if applied.state is None:
            raise self.missing(key)
        return applied.state


def inbox() -> tuple[str, ...]:
    """The current command's inbox ids: its Idempotency-Key's, if it was sent with one."""
    found = inbox_id()
    return (found,) if found else ()
