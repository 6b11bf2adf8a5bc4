"""One source per fact in config/: the clinic network (sites, rooms and chairs, staff) is
described once, in network.yaml, and every service reads it from there; scheduling.yaml holds
only scheduling's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.runtime import network as runtime
from services.runtime.network import DEFAULT_PATH, SCHEDULING_OWNED, load_network
from services.scheduling.network import Site
from services.scheduling.network_store import load_config

CONFIG = DEFAULT_PATH.parent


def test_site_facts_are_written_once_across_the_config_files() -> None:
    sites_by_file = {
        path.name: [s["site_id"] for s in (yaml.safe_load(path.read_text()) or {}).get("sites", [])]
        for path in sorted(CONFIG.glob("*.yaml"))
    }
    assert {name for name, sites in sites_by_file.items() if sites} == {"network.yaml"}
    assert "network" not in yaml.safe_load((CONFIG / "scheduling.yaml").read_text())


def test_scheduling_books_against_the_sites_every_service_reads() -> None:
    shared = load_network()
    seed = load_config().network
    assert [s.site_id for s in seed.sites] == [s.site_id for s in shared.sites]
    for site in shared.sites:
        booked = seed.site(site.site_id)
        assert booked is not None
        assert (booked.name, booked.time_zone, booked.rems_certified) == (
            site.name,
            site.time_zone,
            site.rems_certified,
        )
    north = seed.site("site-north")
    assert north is not None
    assert north.chairs == ("north-chair-1", "north-chair-2")
    assert {p.provider_id for p in seed.providers} >= {"rn-north-1", "rn-south-1"}


def test_every_site_fact_has_a_reader_that_checks_it() -> None:
    """The shared loader leaves exactly scheduling's own facts to scheduling (which leaves the
    shared-only ones, coaches and site lead, to the shared loader)."""
    assert frozenset(Site.model_fields) - frozenset(runtime.Site.model_fields) == SCHEDULING_OWNED


SITE = """
sites:
  - site_id: site-east
    name: East Clinic
    time_zone: Europe/Berlin
    rems_certified: false
    coaches: [coach-dee]
    site_lead: lead-east
    hours: {mon: ["09:00-12:00"]}
    rooms:
      - {room_id: east-monitoring, kind: monitoring, chairs: [east-chair-1]}
providers:
  - {provider_id: rn-east-1, role: nurse, sites: [site-east], availability: {mon: ["09:00-12:00"]}}
"""


def test_another_network_file_changes_every_reader_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = tmp_path / "network.yaml"
    network.write_text(SITE)
    monkeypatch.setenv("NETWORK_CONFIG", str(network))
    shared = load_network(str(network))
    seed = load_config().network
    assert shared.site_ids == {"site-east"}
    assert shared.sites[0].coaches == ("coach-dee",)
    assert [s.site_id for s in seed.sites] == ["site-east"]
    assert seed.sites[0].chairs == ("east-chair-1",)
    assert [p.provider_id for p in seed.providers] == ["rn-east-1"]


def test_the_scheduling_file_refuses_a_network_of_its_own(tmp_path: Path) -> None:
    rules = tmp_path / "scheduling.yaml"
    rules.write_text("network: {sites: []}\nrules: {}\n")
    with pytest.raises(ValidationError, match="network"):
        load_config(rules)


def test_a_misspelt_site_fact_is_refused_by_whoever_reads_it(tmp_path: Path) -> None:
    network = tmp_path / "network.yaml"
    network.write_text(SITE.replace("site_lead:", "site_leed:"))
    with pytest.raises(ValidationError, match="site_leed"):
        load_network(str(network))
    network.write_text(SITE.replace("hours:", "opening:"))
    with pytest.raises(ValidationError, match="opening"):
        load_config(network_path=network)
