"""Steady patient journeys through the public HTTP APIs, for load and fault tests.

Each load patient is referred, approved (esketamine at a REMS-certified site, IV ketamine
elsewhere), treated once and discharged, which books the course and creates the follow-up
plan. Every third patient's ~40-minute BP recheck is left uncharted, so a monitoring clock
fires for it. All people are synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from demo.client import Api
from demo.scenario import TRD_TRIALS, Scenario, referral

SITES = ("site-north", "site-south")


@dataclass(frozen=True)
class LoadPatient:
    label: str
    patient_id: str
    site_id: str
    rechecked: bool


def treat_one(api: Api, n: int) -> LoadPatient:
    """Patient `n`'s whole first treatment day; raises on the first refused request."""
    site = SITES[n % len(SITES)]
    label, rechecked = f"Load-{n}", n % 3 != 0
    scenario = Scenario(api)
    pid = scenario.refer(label, referral(site, n % 20 + 1, [2, 3, 2, 2, 2, 2, 2, 2, 0], [],
                                         TRD_TRIALS))  # fmt: skip
    if site == "site-north":
        scenario.approve(pid, "esketamine_trd")
        scenario.treat(label, pid, dose_mg=56, recheck=rechecked)
    else:
        scenario.approve(pid, "iv_ketamine_series", planned=6)
        scenario.treat(label, pid, dose_mg=35, weight_kg=70, discharge_at=120, recheck=rechecked)
    return LoadPatient(label, pid, site, rechecked)


def run(new_api: Callable[[], Api], patients: int, workers: int = 4) -> list[LoadPatient]:
    """`patients` journeys, `workers` at a time, each worker with its own HTTP client."""
    with ThreadPoolExecutor(workers, thread_name_prefix="load") as pool:
        return list(pool.map(lambda n: treat_one(new_api(), n), range(1, patients + 1)))
