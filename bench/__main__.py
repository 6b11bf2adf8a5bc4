"""`make bench`: live projection and rebuild throughput of the journey service.

Publishes synthetic traffic (5 events per patient over two topics) into a throwaway
deployment on the local Kafka and MongoDB-wire server, measures how fast the live consumer
projects it, then rebuilds the projection from the topics and measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

from bench.deployment import throwaway
from harness.running import auth, eventually, running
from harness.traffic import publish_all
from services.journey.main import create_app
from services.runtime.auth import Role


async def bench(patients: int) -> None:
    async with throwaway("bench") as settings:
        t0 = time.perf_counter()
        events = await publish_all(settings, patients)
        published = time.perf_counter() - t0
        ops = auth(settings, Role.OPS)
        async with running(create_app(settings.for_service("journey"))) as http:
            t0 = time.perf_counter()

            async def caught_up() -> bool:
                """Lag comes from Kafka; counting journeys on FerretDB is a full scan, so it
                is done once at the end rather than polled."""
                return bool((await http.get("/admin/lag", headers=ops)).json()["total"] == 0)

            await eventually(caught_up, timeout=3600, interval=1.0)
            live_s = time.perf_counter() - t0
            live = (await http.get("/admin/projection", headers=ops)).json()
            assert live["patients"] == patients, live
            await http.post("/admin/rebuild", headers=ops)

            async def rebuilt() -> dict[str, float] | None:
                view = (await http.get("/admin/rebuild", headers=ops)).json()
                return view if view["state"] in ("done", "failed") else None

            view = await eventually(rebuilt, timeout=3600, interval=0.5)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"events: {events} ({patients} patients x 5, 2 topics, 3 partitions each)")
        print(f"publish:         {events / published:8.0f} events/s")
        live_rate, rebuild_rate = events / live_s, view["events_per_second"]
        print(f"live projection: {live_rate:8.0f} events/s ({live_s:.1f}s, a commit per event)")
        print(f"rebuild:         {rebuild_rate:8.0f} events/s ({view['seconds']:.1f}s, "
              f"a commit per patient per batch; {view['state']})")  # fmt: skip
        print(f"peak RSS of this process (service + load generator): {rss_mb:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    asyncio.run(bench(parser.parse_args().patients))


if __name__ == "__main__":
    main()
