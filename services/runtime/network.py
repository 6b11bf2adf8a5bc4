"""The clinic network configuration (sites, chairs, coaches), loaded from YAML."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "network.yaml"


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    site_id: str
    name: str
    time_zone: str
    rems_certified: bool
    chairs: tuple[str, ...] = Field(min_length=1)
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


@lru_cache(maxsize=4)
def load_network(path: str | None = None) -> Network:
    source = Path(path or os.environ.get("NETWORK_CONFIG") or DEFAULT_PATH)
    return Network.model_validate(yaml.safe_load(source.read_text()))
