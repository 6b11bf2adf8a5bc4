"""Where the journey projection's time goes: `python -m bench.profile 1000 [--top 25]`.

Runs the `bench.projection` step (synthetic traffic, the journey in-process, live projection
until lag 0, then `POST /admin/rebuild`) with cProfile on and a PyMongo CommandListener counting
the commands of each phase, and prints the rates, the commands per patient, the batches and
each phase's top functions by own time. Ids only: no patient data is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections import Counter
from typing import Any

from pymongo import monitoring

from bench.deployment import throwaway
from harness.running import auth, eventually, running
from harness.traffic import publish_all
from services.journey.main import create_app
from services.runtime import batch
from services.runtime.auth import Role


class Commands(monitoring.CommandListener):
    """MongoDB commands by phase, as `<command> <collection>`."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.counts: dict[str, Counter[str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        name = f"{event.command_name} {target if isinstance(target, str) else ''}".strip()
        self.counts.setdefault(self.phase, Counter())[name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = Commands()
BATCHES: Counter[str] = Counter()


def count_batches() -> None:
    consume = batch.BatchConsumer.consume

    async def counted(self: batch.BatchConsumer, records: Any) -> None:
        BATCHES[COMMANDS.phase] += 1
        await consume(self, records)

    batch.BatchConsumer.consume = counted  # type: ignore[method-assign]


async def profile(patients: int, top: int) -> dict[str, Any]:
    monitoring.register(COMMANDS)
    count_batches()
    profiles, seconds = {}, {}
    async with throwaway("bench") as settings:
        events = await publish_all(settings, patients)
        ops = auth(settings, Role.OPS)
        async with running(create_app(settings.for_service("journey"))) as http:

            async def caught_up() -> bool:
                return bool((await http.get("/admin/lag", headers=ops)).json()["total"] == 0)

            async def rebuilt() -> dict[str, Any] | None:
                view = (await http.get("/admin/rebuild", headers=ops)).json()
                return view if view["state"] in ("done", "failed") else None

            for phase in ("live", "replay"):
                COMMANDS.phase, profiles[phase] = phase, cProfile.Profile()
                t0 = time.perf_counter()
                profiles[phase].enable()
                if phase == "live":
                    await eventually(caught_up, timeout=3600, interval=0.1)
                else:
                    await http.post("/admin/rebuild", headers=ops)
                    view = await eventually(rebuilt, timeout=3600, interval=0.2)
                profiles[phase].disable()
                seconds[phase] = time.perf_counter() - t0
            COMMANDS.phase = "after"
    for phase, found in profiles.items():
        out = io.StringIO()
        pstats.Stats(found, stream=out).sort_stats("tottime").print_stats(top)
        sys.stderr.write(f"--- {phase}: top {top} by own time\n{out.getvalue()}")
    return {
        "patients": patients,
        "events": events,
        "live_events_per_s": events / seconds["live"],
        "replay_events_per_s": view["events_per_second"],
        "replay_state": view["state"],
        "batches": dict(BATCHES),
        "commands_per_patient": {
            phase: {
                name: round(n / patients, 3) for name, n in COMMANDS.counts[phase].most_common()
            }
            for phase in ("live", "replay")
        },
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("patients", type=int)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(profile(args.patients, args.top)), indent=1))


if __name__ == "__main__":
    main()
