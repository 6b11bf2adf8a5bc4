"""The clinic network scheduling books against: the shared network file (config/network.yaml)
as the seed, overlaid with what site admins stored through the admin API (one MongoDB
document per site or provider, by id); and scheduling's rules (config/scheduling.yaml)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.runtime import network as shared
from services.runtime.mongo import Document
from services.scheduling.network import ClinicNetwork, Provider, Site
from services.scheduling.rules import SchedulingRules

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "scheduling.yaml"


class SchedulingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    network: ClinicNetwork = Field(default_factory=ClinicNetwork)
    rules: SchedulingRules = Field(default_factory=SchedulingRules)


class RulesFile(BaseModel):
    """config/scheduling.yaml: only scheduling's own settings (the network is shared)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rules: SchedulingRules = Field(default_factory=SchedulingRules)


SHARED_ONLY = frozenset(shared.Site.model_fields) - frozenset(Site.model_fields)
"""Site facts of the network file other services read (coaches, site lead), not scheduling."""


def load_config(
    path: str | Path | None = None, network_path: str | Path | None = None
) -> SchedulingConfig:
    """Scheduling's rules (SCHEDULING_CONFIG overrides the path) and its seed network: the
    sites and providers of the shared network file (NETWORK_CONFIG overrides that path)."""
    source = Path(path or os.environ.get("SCHEDULING_CONFIG") or DEFAULT_PATH)
    data: Any = yaml.safe_load(source.read_text()) or {}
    file = shared.read_network_file(network_path)
    sites = [{k: v for k, v in s.items() if k not in SHARED_ONLY} for s in file.get("sites", [])]
    network = ClinicNetwork.model_validate({"sites": sites, "providers": file.get("providers", [])})
    return SchedulingConfig(network=network, rules=RulesFile.model_validate(data).rules)


class NetworkStore:
    def __init__(self, db: AsyncDatabase[Document], seed: ClinicNetwork) -> None:
        self.collection = db["network"]
        self.seed = seed

    async def load(self) -> ClinicNetwork:
        sites: list[Site] = []
        providers: list[Provider] = []
        async for doc in self.collection.find({}):
            if doc.get("kind") == "site":
                sites.append(Site.model_validate(doc["body"]))
            elif doc.get("kind") == "provider":
                providers.append(Provider.model_validate(doc["body"]))
        return self.seed.overlaid(sites, providers)

    async def put(self, item: Site | Provider, *, certification_changes: int | None = None) -> None:
        """Store a site or provider; a site keeps its count of certification changes unless
        `certification_changes` gives the new count."""
        kind = "site" if isinstance(item, Site) else "provider"
        key = f"{kind}:{item.site_id if isinstance(item, Site) else item.provider_id}"
        doc: Document = {"_id": key, "kind": kind, "body": item.model_dump(mode="json")}
        if isinstance(item, Site):
            doc["certification_changes"] = (
                await self.certification_changes(item.site_id)
                if certification_changes is None
                else certification_changes
            )
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            await self.collection.replace_one({"_id": key}, doc)

    async def certification_changes(self, site_id: str) -> int:
        """How often site admins changed the site's REMS certification (0 for a seed site):
        it numbers each change, so every attempt at one change names the same events."""
        doc = await self.collection.find_one(
            {"_id": f"site:{site_id}"}, {"certification_changes": 1}
        )
        return int(doc.get("certification_changes", 0)) if doc else 0
