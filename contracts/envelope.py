"""The event envelope every message carries, and the stamp that fills it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid5

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"
_NAMESPACE = UUID("6f1c1a52-6b0e-4d35-9f3e-0c8e7c2b9a41")


def stable_id(*parts: object) -> UUID:
    """A deterministic id (UUIDv5) from its parts: an event fired twice by two clock sweeps,
    or re-derived on redelivery, carries the same id and consumers drop the copy."""
    return uuid5(_NAMESPACE, "/".join(str(p) for p in parts))


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are rejected."""

EntityId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
"""Opaque identifier (patient, site, coach, appointment...): never a name or other identity data."""


class StrictModel(BaseModel):
    """Contract models reject unknown fields when produced (DESIGN: events and messaging)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventBase(StrictModel):
    """Envelope fields shared by every event; subclasses add a `event_type` literal and payload."""

    event_id: UUID
    event_type: str
    schema_version: str = Field(default=SCHEMA_VERSION, pattern=r"^\d+\.\d+$")
    occurred_at: UtcDatetime
    patient_id: EntityId
    site_id: EntityId
    correlation_id: UUID
    causation_id: UUID | None = None
    producer: str = Field(min_length=1, max_length=32)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


@dataclass(frozen=True)
class Stamp:
    """What a decision needs to stamp envelopes: the clock, an id source and the causal chain.

    Domain code receives a Stamp instead of calling `now()` or `uuid4()`, so tests can fix both.
    """

    now: datetime
    producer: str
    correlation_id: UUID
    new_id: Callable[[], UUID]
    causation_id: UUID | None = None

    def envelope(self, patient_id: str, site_id: str) -> dict[str, Any]:
        return {
            "event_id": self.new_id(),
            "occurred_at": self.now,
            "patient_id": patient_id,
            "site_id": site_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "producer": self.producer,
        }

    def caused_by(self, event: EventBase, now: datetime) -> Stamp:
        """A stamp for events emitted in reaction to `event`: same correlation, causation = it."""
        return Stamp(
            now=now,
            producer=self.producer,
            correlation_id=event.correlation_id,
            new_id=self.new_id,
            causation_id=event.event_id,
        )
