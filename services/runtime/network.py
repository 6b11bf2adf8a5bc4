"""The clinic network configuration (sites, time zones, REMS certification, coaches, site
leads), loaded from YAML: config/network.yaml is the one file that describes the network."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "network.yaml"
SCHEDULING_OWNED = frozenset({"hours", "closed_days", "rooms"})
"""Site facts only scheduling books against; scheduling reads and checks them, with the
file's `providers` (services/scheduling/network_store.py)."""


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    site_id: str
    name: str
    time_zone: str
    rems_certified: bool
    coaches: tuple[str, ...] = ()
    site_lead: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class Network(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sites: tuple[Site, ...]

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.site_id == site_id), None)

    @property
    def site_ids(self) -> frozenset[str]:
        return frozenset(s.site_id for s in self.sites)


def read_network_file(path: str | Path | None = None) -> dict[str, Any]:
    """The network file as written (NETWORK_CONFIG overrides the path)."""
    source = Path(path or os.environ.get("NETWORK_CONFIG") or DEFAULT_PATH)
    data: dict[str, Any] = yaml.safe_load(source.read_text()) or {}
    return data


@lru_cache(maxsize=4)
def load_network(path: str | None = None) -> Network:
    sites = read_network_file(path).get("sites", [])
    return Network.model_validate(
        {"sites": [{k: v for k, v in s.items() if k not in SCHEDULING_OWNED} for s in sites]}
    )
