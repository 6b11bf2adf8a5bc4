"""The whole pipeline: the five services as processes (one instance each, started as the
launcher starts them) on the bench's servers, patient journeys through their public HTTP
APIs at steady rates, and what that costs.

The journeys are the fault runs' (`chaos.driver`: referral -> consents -> approval -> the
course booked by scheduling -> treatment day -> discharge -> the coach completes a task),
here without faults, on a grown network (`bench.network`: enough chairs and staff that no
course blocks). Journeys start open loop, `rate` a minute, each in a thread of its own.

Per rate:
- **end-to-end latency**: from the HTTP 200 of a discharge to the first follow-up task of
  that patient visible in a coach's queue (journey's `GET /coaches/{coach_id}/queue`, the
  coach's own token, the site's coaches asked in turn every 20 ms): p50/p95/p99. The poll
  interval is the resolution: a figure is at most one poll late;
- **pipeline throughput**: events appended to the deployment's topics a second;
- **lag**: the sum over every consumer group of the deployment, sampled each second while
  journeys start. *Flat* when its least-squares trend over the second half of the step grows
  by less than 5 % of the event rate (a pipeline that keeps up holds a small, steady lag of
  events in flight; one that does not grows it by the difference of the rates);
- **RSS** of every service process (`/proc/<pid>/status`): idle (before any load), at the end
  of each step, and the peak (VmHWM).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.deployment import throwaway
from bench.network import scaled
from chaos import driver
from chaos.client import Client, Refused, Unavailable
from chaos.ledger import Ledger
from chaos.stack import (
    INSTANCE_PORT_STEP,
    ROOT,
    SERVICE_PORT_VARS,
    SERVICES,
    Stack,
    env_ports,
    free_port,
)
from services.runtime.auth import Role
from services.runtime.network import load_network
from services.runtime.settings import Settings

POLL_S = 0.02
SEEN_WITHIN_S = 30.0
"""A follow-up task not in the queue this long after its discharge counts as missed."""
FLAT = 0.05
NETWORK_FACTOR = 8


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(q / 100 * (len(ranked) - 1)))]


def trend(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope (events/s) of lag over time."""
    if len(samples) < 3:
        return 0.0
    ts, ys = [t for t, _ in samples], [float(y) for _, y in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den if den else 0.0


def rss_mb(pid: int | None) -> dict[str, float]:
    if pid is None:
        return {}
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


TICK = os.sysconf("SC_CLK_TCK")
INFRA_DIR = Path(os.environ.get("KAP_RUN_DIR") or ROOT / ".run")
"""Where the launcher ran the servers the bench uses (their command lines name it)."""
INFRA = {"kafka": "kafka.Kafka", "ferretdb": "ferretdb", "postgres": "postgres -D"}


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_by_process(stack: Stack, infra_dir: Path) -> dict[str, float]:
    """CPU seconds used so far: each service, the servers this bench runs on (the processes
    started from `infra_dir` and their children: PostgreSQL's backends) and the driver."""
    found = {s: cpu_s(pid) for s in SERVICES if (pid := stack.pid(s)) is not None}
    parent: dict[int, int] = {}
    kind_of: dict[int, str] = {}
    for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        for kind, pattern in INFRA.items():
            if pattern in cmdline and str(infra_dir) in cmdline:
                kind_of[pid] = kind
    for pid in parent:
        ancestor = pid
        while ancestor not in kind_of and ancestor in parent and ancestor > 1:
            ancestor = parent[ancestor]
        if ancestor in kind_of:
            found[kind_of[ancestor]] = found.get(kind_of[ancestor], 0.0) + cpu_s(pid)
    found["driver"] = sum(os.times()[:2])
    return found


DB_STATS = """
SELECT schemaname, relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0),
       coalesce(idx_tup_fetch, 0), n_tup_ins + n_tup_upd + n_tup_del
FROM pg_stat_user_tables WHERE schemaname LIKE '{deployment}%'
ORDER BY seq_tup_read + coalesce(idx_tup_fetch, 0) DESC LIMIT 8"""


def db_reads(deployment: str) -> dict[str, Any]:
    """What the database did for each of the deployment's busiest collections (PostgreSQL's
    own table statistics under FerretDB: a table per collection, a schema per database): the
    database-side profile of the run. Empty where the engine is not PostgreSQL."""
    done = subprocess.run(
        ["bash", str(ROOT / "infra" / "local" / "postgres.sh"), "psql", "-d", "ferretdb", "-tAc",
         DB_STATS.format(deployment=deployment)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    found: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        schema, table, seq, seq_rows, idx, idx_rows, writes = line.split("|")
        name = f"{schema.removeprefix(deployment + '_')}.{table.rsplit('_', 1)[0]}"
        found[name] = {"seq_scans": int(seq), "rows_by_scan": int(seq_rows),
                       "index_scans": int(idx), "rows_by_index": int(idx_rows),
                       "rows_written": int(writes)}  # fmt: skip
    return found


class Kafka:
    """Lag of every consumer group of the deployment and the events on its topics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        self.probe = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None
        )

    async def __aenter__(self) -> Kafka:
        await self.admin.start()
        await self.probe.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.probe.stop()
        await self.admin.close()

    async def partitions(self) -> list[TopicPartition]:
        prefix = self.settings.kafka_topic_prefix
        topics = [t for t in await self.probe.topics() if t.startswith(prefix)]
        return [
            TopicPartition(t, p) for t in topics for p in self.probe.partitions_for_topic(t) or ()
        ]

    async def events(self) -> int:
        ends = await self.probe.end_offsets(await self.partitions())
        return int(sum(ends.values()))

    async def lag(self) -> int:
        return sum((await self.lags()).values())

    async def lags(self) -> dict[str, int]:
        """Per consumer group of the deployment."""
        found: dict[str, int] = {}
        for group in [str(g[0]) for g in await self.admin.list_consumer_groups()]:
            if not group.startswith(f"{self.settings.deployment}-"):
                continue
            committed = await self.admin.list_consumer_group_offsets(group)
            ends = await self.probe.end_offsets(list(committed))
            service, _, topic = group.removeprefix(f"{self.settings.deployment}-").partition(".")
            name = f"{service}<-{topic.removeprefix(self.settings.kafka_topic_prefix + 'kap.')}"
            found[name] = sum(max(0, ends[tp] - m.offset) for tp, m in committed.items())
        return found


@dataclass
class Step:
    rate: int
    seconds: float
    started: int = 0
    discharged: int = 0
    stalled: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def coaches_of(site: str) -> list[str]:
    return [c for s in load_network().sites if s.site_id == site for c in s.coaches]


def seen_in_queue(client: Client, pid: str, coaches: list[str]) -> float | None:
    """Seconds until one of `coaches` has a task of `pid` in their queue (None: not within
    SEEN_WITHIN_S)."""
    started = time.perf_counter()
    while time.perf_counter() - started < SEEN_WITHIN_S:
        for coach in coaches:
            queue = client.get("journey", f"/coaches/{coach}/queue", Role.COACH, subject=coach)
            if any(t["patient_id"] == pid for t in (queue or {}).get("tasks", [])):
                return time.perf_counter() - started
        time.sleep(POLL_S)
    return None


def one_journey(client: Client, n: int, step: Step) -> None:
    mine = client.fresh()
    try:
        pid = driver.treat(mine, n)
        with step.lock:
            step.discharged += 1
        seen = seen_in_queue(mine, pid, coaches_of(driver.SITES[n % len(driver.SITES)]))
        with step.lock:
            if seen is None:
                step.missed += 1
            else:
                step.latencies.append(seen)
        driver.follow_up(mine, pid)
    except (Refused, driver.Stalled, Unavailable) as error:
        reason = error.command.kind if isinstance(error, Refused) else str(error)
        with step.lock:
            step.stalled[reason] = step.stalled.get(reason, 0) + 1


async def run_step(
    client: Client, kafka: Kafka, step: Step, first: int, stack: Stack
) -> dict[str, Any]:
    """Start `step.rate` journeys a minute for `step.seconds`, sampling lag every second; then
    let the journeys in flight finish (60 s at most)."""
    interval = 60.0 / step.rate
    samples: list[tuple[float, int]] = []
    futures: list[Future[None]] = []
    pool = ThreadPoolExecutor(256, thread_name_prefix="journey")
    events_before, started = await kafka.events(), time.perf_counter()
    cpu_before = cpu_by_process(stack, INFRA_DIR)
    next_start, next_sample, n = started, started, first
    while (now := time.perf_counter()) - started < step.seconds:
        while next_start <= now:
            futures.append(pool.submit(one_journey, client, n, step))
            n, step.started, next_start = n + 1, step.started + 1, next_start + interval
        if now >= next_sample:
            samples.append((now - started, await kafka.lag()))
            next_sample += 1.0
        await asyncio.sleep(min(next_start, next_sample) - time.perf_counter())
    window = time.perf_counter() - started
    events = await kafka.events() - events_before
    lagging = {g: n for g, n in (await kafka.lags()).items() if n}
    cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_by_process(stack, INFRA_DIR).items()}
    # Journeys in flight may finish (their latencies count) for as long as the step ran, at
    # most a minute; then the rest stop at their next wait (counted as stalled).
    await asyncio.to_thread(wait, futures, timeout=min(60.0, step.seconds))
    driver.RUN_ENDED.set()
    await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
    driver.RUN_ENDED.clear()
    tail = [(t, lag) for t, lag in samples if t >= step.seconds / 2]
    growth = trend(tail)
    events_per_s = events / window
    ms = [1000 * s for s in step.latencies]
    return {
        "journeys_per_min_offered": step.rate,
        "journeys_started": step.started,
        "discharged": step.discharged,
        "stalled": step.stalled,
        "follow_up_missed": step.missed,
        "pipeline_events_per_s": round(events_per_s, 1),
        "lag_max": max((lag for _, lag in samples), default=0),
        "lag_end": samples[-1][1] if samples else 0,
        "lag_trend_events_per_s": round(growth, 2),
        "lag_end_by_group": lagging,
        "lag_flat": growth < FLAT * max(events_per_s, 1.0),
        "e2e_ms_p50": percentile(ms, 50),
        "e2e_ms_p95": percentile(ms, 95),
        "e2e_ms_p99": percentile(ms, 99),
        "e2e_samples": len(ms),
        "cpu_share_of_machine": {
            k: round(v / window / (os.cpu_count() or 1), 3) for k, v in cpu.items()
        },
        "drain_s": round(time.perf_counter() - started - window, 1),
        "lag_after_drain_by_group": {g: n for g, n in (await kafka.lags()).items() if n},
    }


def plan(rates: list[int], done: list[dict[str, Any]]) -> Iterator[int]:
    """The first rate, then up the higher ones while lag stays flat, or down the lower ones
    until it is flat: the highest flat rate of the list, in as few steps as it takes."""
    first, higher = rates[0], sorted(r for r in rates if r > rates[0])
    lower = sorted((r for r in rates if r < rates[0]), reverse=True)
    yield first
    for rate in higher if done[-1]["lag_flat"] else lower:
        yield rate
        if done[-1]["lag_flat"] != (rate in higher):
            return


async def pipeline(rates: list[int], seconds: float) -> dict[str, Any]:
    """A step at the first rate, then a search for the highest rate that keeps lag flat. Each
    step runs on a deployment of its own (empty topics, databases and calendar): a backlog or a
    filled calendar left by the step before would be measured as the next rate's."""
    steps: list[dict[str, Any]] = []
    found: dict[str, Any] = {}
    for rate in plan(rates, steps):
        result, idle = await fresh_step(rate, seconds)
        found.setdefault("rss_idle_mb", idle)
        steps.append(result)
    flat = [s for s in steps if s["lag_flat"]]
    return found | {
        "steps": steps,
        "rss_peak_mb": {
            name: max(s["rss_peak_mb"].get(name) or 0.0 for s in steps) for name in SERVICES
        },
        "max_flat_journeys_per_min": max(
            (s["journeys_per_min_offered"] for s in flat), default=None
        ),
        "max_flat_pipeline_events_per_s": max(
            (s["pipeline_events_per_s"] for s in flat), default=None
        ),
    }


async def fresh_step(rate: int, seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """One rate on a fresh deployment and freshly started services; returns the step and the
    services' idle RSS before it."""
    async with throwaway("pipe") as settings:
        run_dir = ROOT / ".run" / "bench-pipeline"  # the last step's logs stay for a look
        shutil.rmtree(run_dir, ignore_errors=True)
        ports = env_ports() | {v: str(free_port(INSTANCE_PORT_STEP)) for v in SERVICE_PORT_VARS}
        network = scaled(NETWORK_FACTOR, run_dir / "network.yaml")
        stack = Stack(run_dir, ports, settings.deployment, instances=1,
                      extra_env={"NETWORK_CONFIG": str(network)})  # fmt: skip
        try:
            for name in SERVICES:
                stack.start_service(name)
            await wait_healthy(stack)
            await asyncio.sleep(5)  # settled: the idle RSS
            idle = {s: rss_mb(stack.pid(s)).get("VmRSS") for s in SERVICES}
            client = Client(stack.urls(), stack.settings, Ledger())
            async with Kafka(stack.settings) as kafka:
                result = await run_step(client, kafka, Step(rate, seconds), 1, stack)
            result["rss_mb"] = {s: rss_mb(stack.pid(s)).get("VmRSS") for s in SERVICES}
            result["rss_peak_mb"] = {s: rss_mb(stack.pid(s)).get("VmHWM") for s in SERVICES}
            result["database_by_collection"] = await asyncio.to_thread(
                db_reads, settings.deployment
            )
            return result, idle
        finally:
            await asyncio.to_thread(stack.stop_services)


async def wait_healthy(stack: Stack, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not all(stack.healthy(s) for s in SERVICES):
        if time.monotonic() > deadline:
            down = [s for s in SERVICES if not stack.healthy(s)]
            raise RuntimeError(f"not healthy within {timeout} s: {down} (logs in {stack.run_dir})")
        await asyncio.sleep(0.5)
