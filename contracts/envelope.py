"""The event envelope every message carries, and the stamp that fills it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid5

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

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

_ISO_8601_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def _iso_8601_text(value: object) -> object:
    """On the wire an instant is only ever the ISO-8601 text producers write
    (`2026-03-02T14:00:00Z`). Pydantic would also read a number, or digits in a string, as Unix
    seconds: an integer `occurred_at` would become a 2023 instant and be projected as such."""
    if isinstance(value, datetime) or (
        isinstance(value, str) and _ISO_8601_INSTANT.fullmatch(value)
    ):
        return value
    raise PydanticCustomError(
        "iso8601_instant_required",
        "an ISO-8601 date-time string with its offset (Z or +HH:MM) is required",
    )


WireInstant = Annotated[UtcDatetime, BeforeValidator(_iso_8601_text)]
"""An envelope timestamp: ISO-8601 text with its offset (or a datetime built in code), UTC."""


def _major(version: str) -> int:
    return int(version.partition(".")[0])


def _readable_major(version: str) -> str:
    """A consumer reads its own major version and tolerates newer minors (the catalog trims
    their extra fields); another major may change what fields mean, so it is refused."""
    if _major(version) != _major(SCHEMA_VERSION):
        raise PydanticCustomError(
            "schema_major_unsupported",
            "schema major version {major} is required",
            {"major": _major(SCHEMA_VERSION)},
        )
    return version


SchemaVersion = Annotated[str, Field(pattern=r"^\d+\.\d+$"), AfterValidator(_readable_major)]
"""`MAJOR.MINOR` of the envelope's schema; only this build's major is accepted."""

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
    schema_version: SchemaVersion = SCHEMA_VERSION
    occurred_at: WireInstant
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
