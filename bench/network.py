"""A grown clinic network for the pipeline bench: the network of `config/network.yaml` with
`factor` times the chairs, therapy rooms and clinical staff, so scheduling can book hundreds
of courses in a few minutes instead of blocking them for lack of capacity (which would end
the journeys the bench measures before their discharge). Sites, coaches, leads unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.runtime.network import DEFAULT_PATH


def scaled(factor: int, into: Path) -> Path:
    network: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text())
    for site in network["sites"]:
        for room in site["rooms"]:
            chairs = room.get("chairs") or []
            room["chairs"] = [f"{c}-{i}" if i else c for i in range(factor) for c in chairs]
        therapy = [r for r in site["rooms"] if not r.get("chairs")]
        site["rooms"] += [{**r, "room_id": f"{r['room_id']}-{i}"}
                          for i in range(1, factor) for r in therapy]  # fmt: skip
    network["providers"] = [
        {**p, "provider_id": f"{p['provider_id']}-{i}" if i else p["provider_id"]}
        for i in range(factor)
        for p in network["providers"]
    ]
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text(yaml.safe_dump(network, sort_keys=False))
    return into
