"""The building blocks of a FHIR export (fhir.py): resource ids, references, times, and the
resources of one journey with the events that shaped each."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import stable_id
from services.journey import fhir_codes as codes
from services.journey.models import Entry, Journey

Resource = dict[str, Any]


def instant(at: datetime | str) -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource['id']}"}


@dataclass
class Export:
    """The resources of one journey, keyed by id, each with the events that shaped it."""

    journey: Journey
    resources: dict[str, Resource] = field(default_factory=dict)
    updated: dict[str, datetime] = field(default_factory=dict)
    by_type: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for entry in self.journey.timeline:
            self.by_type[entry.event_type].append(entry)

    def id_of(self, *parts: object) -> str:
        return str(stable_id("fhir", self.journey.patient_id, *parts))

    def add(self, resource: Resource, *shaped_by: Entry) -> Resource:
        at = max(e.occurred_at for e in shaped_by)
        resource["meta"] = {**resource.get("meta", {}), "lastUpdated": instant(at)}
        self.resources[resource["id"]] = resource
        self.updated[resource["id"]] = at
        return resource

    def latest(self, event_type: str) -> Entry | None:
        return self.by_type[event_type][-1] if self.by_type[event_type] else None


def staff(staff_id: str) -> dict[str, Any]:
    """A logical reference (by identifier): staff records are not part of a patient export."""
    return {"identifier": {"system": codes.STAFF_ID_SYSTEM, "value": staff_id}}
