"""Domain code stands alone: no module of a service's rules imports the web framework, the
broker client or the database driver, directly or through what it imports. The HTTP edge maps
refusals to statuses (`services/runtime/errors.py`); the stores and consumers do the I/O."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("fastapi", "starlette", "faststream", "pymongo", "aiokafka")
PURE = {
    "intake": ("review", "scoring", "coverage"),
    "scheduling": (
        "commands",
        "course",
        "planning",
        "slots",
        "slot_requests",
        "decision",
        "rems",
        "network",
        "errors",
    ),
    "session": (
        "record",
        "chart",
        "dosing",
        "gates",
        "invariants",
        "safety",
        "clocks",
        "rems_form",
    ),
    "coaching": ("outcomes", "integration", "roster", "escalation"),
    "journey": ("evolve", "models", "queries", "fhir", "fhir_export", "fhir_clinical", "fhir_care"),
}
"""Besides every `domain*.py` and `rules.py`: the modules holding each service's decisions."""


def domain_modules() -> list[str]:
    found = {
        f"services.{path.parent.name}.{path.stem}"
        for pattern in ("services/*/domain*.py", "services/*/rules.py")
        for path in ROOT.glob(pattern)
    }
    found |= {f"services.{service}.{name}" for service, names in PURE.items() for name in names}
    return sorted(found)


PROBE = """
import importlib, json, sys
frameworks, pulled = json.loads(sys.argv[1]), {}
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
    new = [f for f in frameworks if f in sys.modules and f not in sum(pulled.values(), [])]
    if new:
        pulled[module] = new
print(json.dumps(pulled))
"""


def frameworks_pulled_in(modules: list[str]) -> dict[str, list[str]]:
    """Import the modules one after another in a fresh interpreter; each framework is blamed
    on the first module whose import loaded it."""
    args = [json.dumps(FRAMEWORKS), json.dumps(modules)]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    pulled: dict[str, list[str]] = json.loads(out.stdout)
    return pulled


def test_the_domain_modules_are_found() -> None:
    modules = domain_modules()
    assert "services.session.domain" in modules
    assert "services.session.invariants" in modules
    assert len(modules) >= 30


def test_no_domain_module_pulls_in_a_framework_driver_or_broker_client() -> None:
    assert frameworks_pulled_in(domain_modules()) == {}


def test_the_probe_blames_a_module_that_does() -> None:
    assert frameworks_pulled_in(["services.session.routes"])["services.session.routes"]
