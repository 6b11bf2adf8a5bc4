"""Two instances of every service, requests spread across both, with concurrent load: nothing
is booked twice, no follow-up task or appointment is duplicated, each clock fires once, and
the demo network's journeys are the ones a single-instance run produces."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from contracts import Topic
from demo import load, scenario
from demo.client import Api, until
from harness.running import quiet, read_all
from harness.servers import Servers
from services.runtime.auth import Role
from services.runtime.settings import Settings
from tests.conftest import throwaway
from tests.support.processes import service_processes

pytestmark = pytest.mark.infra

LOAD_PATIENTS = 9
CLOCKS = {"SWEEP_INTERVAL_S": "1"}
"""Sweeps every second, so both instances' sweepers race for every clock."""


@pytest.fixture
async def baseline(servers: Servers) -> AsyncIterator[Settings]:
    """A second throwaway deployment for the single-instance run."""
    async with throwaway(servers, f"t{uuid.uuid4().hex[:10]}") as configured:
        yield configured


CLOCK_DRIVEN = {"MonitoringCheckOverdue", "MonitoringFormOverdue", "FollowUpTaskOverdue",
                "RiskFlagEscalated"}  # fmt: skip
"""The demo charts a treatment day after the fact, seconds apart, so whether a sweep fires the
40-minute BP clock before the recheck is charted depends on timing, not on instances."""


def summary(journey: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the number of instances: everything but ids, clock times,
    clock-driven events and which of a site's coaches was least loaded at the moment."""
    return {
        "phase": journey["phase"],
        "protocol": journey["protocol"],
        "doses": (journey["doses_given"], journey["doses_planned"], journey["doses_held"]),
        "tasks": sorted(t["kind"] for t in journey["open_tasks"]),
        "coached": journey["coach_id"] is not None,
        "interactions": journey["interactions"],
        "open_risk_flags": len(journey["open_risk_flags"]),
        "course_blocked": journey["course_blocked"],
        "next_appointment": journey["next_appointment"] is not None,
        "timeline": Counter(
            e["event_type"] for e in journey["timeline"] if e["event_type"] not in CLOCK_DRIVEN
        ),
    }


def difference(alone: Any, together: Any) -> Any:
    """What only one run has: for event counts, just the counts that differ."""
    if isinstance(alone, Counter):
        return (dict(alone - together), dict(together - alone))
    return (alone, together)


def treated(api: Api, patients: Iterable[load.LoadPatient]) -> dict[str, Any] | None:
    """The load patients' journeys once each shows its dose and whole follow-up plan."""
    journeys = {p.patient_id: api.get("journey", f"/patients/{p.patient_id}/journey", Role.OPS)
                for p in patients}  # fmt: skip
    done = all(
        j["doses_given"] == 1 and {t["kind"] for t in j["open_tasks"]} >= scenario.FOLLOW_UP
        for j in journeys.values()
    )
    return journeys if done else None


def chair_clashes(courses: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of live appointments of different patients in one chair at overlapping times."""
    live = [(c["patient_id"], a) for c in courses for a in c["appointments"]
            if a["status"] == "booked" and a.get("chair_id")]  # fmt: skip
    return [
        (a["appointment_id"], b["appointment_id"])
        for i, (pa, a) in enumerate(live)
        for pb, b in live[i + 1 :]
        if pa != pb and a["chair_id"] == b["chair_id"]
        and a["starts_at"] < b["ends_at"] and b["starts_at"] < a["ends_at"]
    ]  # fmt: skip


def settled(api: Api, settings: Settings, patients: dict[str, str]) -> dict[str, Any]:
    """The journeys once the whole deployment is quiet (seen twice, a second apart)."""

    def still() -> bool:
        first = asyncio.run(quiet(settings))
        time.sleep(1.0)
        return first and asyncio.run(quiet(settings))

    until(still, 120, "the deployment to settle")
    return {label: api.get("journey", f"/patients/{pid}/journey", Role.OPS)
            for label, pid in patients.items()}  # fmt: skip


def events(settings: Settings, topic: Topic) -> list[dict[str, Any]]:
    name = settings.kafka_topic_prefix + topic.value
    return asyncio.run(
        read_all(settings.kafka_bootstrap_servers, name, settings.kafka_topic_partitions)
    )


def test_two_instances_of_every_service_keep_every_guarantee(
    settings: Settings, baseline: Settings, tmp_path: Path
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with service_processes(baseline, tmp_path / "one", env=CLOCKS) as api:
        solo, _ = scenario.run(api)
        alone = settled(api, baseline, solo.patients)

    with service_processes(settings, tmp_path / "two", instances=2, env=CLOCKS) as api:
        with ThreadPoolExecutor(2) as pool:
            demo_run = pool.submit(scenario.run, api.fresh())
            load_run = pool.submit(load.run, api.fresh, LOAD_PATIENTS, 3)
            out, _ = demo_run.result()
            patients = load_run.result()
        until(lambda: treated(api, patients), 120, "the load patients' follow-up plans")
        together = settled(api, settings, out.patients)
        every_patient = [*out.patients.values(), *(p.patient_id for p in patients)]
        courses = [api.get("scheduling", f"/patients/{pid}/course", Role.NURSE)
                   for pid in every_patient if pid not in (out.patients["North-3"],
                                                           out.patients["South-2"])]  # fmt: skip
        unchecked = {p.patient_id for p in patients if not p.rechecked}

        def clocks_fired() -> list[dict[str, Any]] | None:
            fired = [e for e in events(settings, Topic.SESSION)
                     if e["event_type"] == "MonitoringCheckOverdue"]  # fmt: skip
            return fired if {e["patient_id"] for e in fired} >= unchecked else None

        until(clocks_fired, 60, "the BP recheck clocks")
        time.sleep(3 * float(CLOCKS["SWEEP_INTERVAL_S"]))  # room for a second firing, if any
        coaching = events(settings, Topic.COACHING)
        overdue = [e for e in events(settings, Topic.SESSION)
                   if e["event_type"] == "MonitoringCheckOverdue"]  # fmt: skip

    differences = {
        (label, key): difference(value, summary(together[label])[key])
        for label, journey in alone.items()
        for key, value in summary(journey).items()
        if summary(together[label])[key] != value
    }
    assert differences == {}, "(patient, field): (one instance, two instances)"
    assert chair_clashes(courses) == []
    for course in courses:
        doses = Counter(a["dose_number"] for a in course["appointments"]
                        if a["status"] == "booked" and a["kind"] == "dosing")  # fmt: skip
        assert all(n == 1 for n in doses.values()), f"a dose booked twice: {doses}"
    created = {e["event_id"]: e for e in coaching if e["event_type"] == "FollowUpTaskCreated"}
    per_patient = Counter((e["patient_id"], e["kind"]) for e in created.values())
    assert set(per_patient.values()) == {1}, "one task of each kind per discharge"
    assert {pid for pid, _ in per_patient} >= {p.patient_id for p in patients}
    distinct = {e["event_id"]: e for e in overdue}.values()
    fired = Counter((e["patient_id"], e["session_id"]) for e in distinct)
    assert set(fired.values()) == {1}, "each clock fires once (a redelivery shares its id)"
    assert {pid for pid, _ in fired} >= unchecked
