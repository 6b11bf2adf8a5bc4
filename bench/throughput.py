"""`make bench`: the project against the raw ceilings of its own servers, in one run.

Prints one table (with the machine's load average next to the numbers: the box is shared)
and writes `bench/results/latest.json`. Targets are printed, never asserted.
`--quick` keeps the run within about 3 minutes; the full run within 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ceilings
from bench.deployment import throwaway
from bench.knobs import knobs
from bench.pipeline import pipeline
from bench.projection import projection
from services.runtime.logging import configure_logging

RESULTS = Path(__file__).parent / "results" / "latest.json"
STEP_TIMEOUT_S = 300
JOURNEY_BYTES = 2822
"""BSON size of a journey after the bench's five events (journey_*.journey_document_bytes).
The raw MongoDB ceiling runs in a child process with a short bound, so a database that stops
answering costs that step and not the run (see `ceilings.BULK_STATEMENTS`)."""

TARGETS = {
    "live projection events/s": ">= 1,000 and >= 0.5x raw read+replace",
    "per-event cost 10k vs 1k patients": "<= 1.25x",
    "replay events/s": ">= 5,000",
    "end-to-end p99 at 100 journeys/min": "<= 200 ms",
    "idle RSS per service": "<= 150 MB",
}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def step(
    name: str, results: dict[str, Any], work: Any, timeout_s: float = STEP_TIMEOUT_S
) -> None:
    """Run one measurement with a bound, recording the load average around it; a failure is
    recorded as such and the run goes on."""
    before = load()
    print(f"[{datetime.now(UTC):%H:%M:%S}] {name} (load {before})", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        found = await asyncio.wait_for(work, timeout_s)
        results[name] = {**found, "load_before": before, "load_after": load(),
                         "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    except Exception as error:
        results[name] = {"error": type(error).__name__, "load_before": before}
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")


def raw_mongo(documents: int) -> dict[str, Any]:
    """The raw MongoDB ceiling in a child process, so a database that stops answering costs
    this step (killed after 90 s) and not the run."""
    code = ("import asyncio, json; from bench.ceilings import mongo_raw; "
            "from services.runtime.settings import Settings; "
            f"print(json.dumps(asyncio.run(mongo_raw(Settings(deployment='rawbench'), "
            f"{documents}, {JOURNEY_BYTES}))))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=90, check=True)  # fmt: skip
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


async def run(quick: bool) -> dict[str, Any]:
    small, large = (500, 2000) if quick else (1000, 10_000)
    records = 100_000 if quick else 500_000
    results: dict[str, Any] = {"quick": quick, "started_at": datetime.now(UTC).isoformat(),
                               "host": platform.node(), "cpus": os.cpu_count()}  # fmt: skip
    async with throwaway("raw") as settings:
        await step("kafka_tools", results, asyncio.to_thread(ceilings.kafka_tools, settings,
                                                             records))  # fmt: skip
        await step("aiokafka_loop", results, ceilings.aiokafka_loop(settings, records // 5))
        if not quick:
            await step("latency_knobs", results, knobs(settings))
    await step(f"journey_{small}", results, projection(small))
    await step(f"journey_{large}", results, projection(large))
    rates, seconds = ([100], 30.0) if quick else ([100, 150, 200, 300, 400, 80, 60, 40], 75.0)
    await step("pipeline", results, pipeline(rates, seconds), timeout_s=900)
    await step("mongo_raw", results, asyncio.to_thread(raw_mongo, 1000 if quick else 5000))
    live = results[f"journey_{large}"].get("live_events_per_s")
    raw = results["mongo_raw"].get("read_replace_docs_per_s")
    results["ratios"] = {
        "live_projection_vs_raw_read_replace": ratio(live, raw),
        "live_projection_vs_kafka_consume": ratio(
            live, results["kafka_tools"].get("consume_msgs_per_s")
        ),
        "per_event_cost_large_vs_small": ratio(
            results[f"journey_{large}"].get("live_ms_per_event"),
            results[f"journey_{small}"].get("live_ms_per_event"),
        ),
        "steady_per_event_cost_large_vs_small": ratio(
            results[f"journey_{small}"].get("live_steady_events_per_s"),
            results[f"journey_{large}"].get("live_steady_events_per_s"),
        ),
        "replay_per_event_cost_large_vs_small": ratio(
            results[f"journey_{small}"].get("replay_events_per_s"),
            results[f"journey_{large}"].get("replay_events_per_s"),
        ),
        "small_patients": small,
        "large_patients": large,
        "pipeline_vs_kafka_consume": ratio(
            results["pipeline"].get("max_flat_pipeline_events_per_s"),
            results["kafka_tools"].get("consume_msgs_per_s"),
        ),
    }
    results["targets"] = TARGETS
    return results


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {number(v)}" for k, v in value.items()) or "-"
    return str(value)


def rows_of(name: str, found: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for key, value in found.items():
        if key == "steps":
            for s in value:
                rows += rows_of(f"{name} @{s['journeys_per_min_offered']}/min", s)
        elif not key.startswith("load_"):
            rows.append((name, key, number(value)))
    if "load_before" in found:
        rows.append((name, "load average before/after", f"{found['load_before']} / "
                     f"{found.get('load_after', '-')}"))  # fmt: skip
    return rows


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    for name, found in results.items():
        if isinstance(found, dict) and name not in ("targets",):
            rows += rows_of(name, found)
    rows += [("target", k, v) for k, v in TARGETS.items()]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    configure_logging("bench", "WARNING")
    results = asyncio.run(run(args.quick))
    print(table(results))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
