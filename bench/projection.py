"""The journey's live projection and its replay, for a number of synthetic patients.

Publishes `harness.traffic` (5 events per patient over two topics) into a throwaway
deployment, starts the journey service in-process, measures how fast its batch consumers
project everything (lag from Kafka), then rebuilds the projection from the topics. The live
rate counts from the app's start, so it includes the consumers' start and group join (seconds,
which weigh on a small run); `live_steady_events_per_s` counts from the first commit.
"""

from __future__ import annotations

import time
from typing import Any

import bson

from bench.deployment import throwaway
from harness.running import auth, eventually, running
from harness.traffic import publish_all
from services.journey.main import create_app
from services.runtime.auth import Role


async def projection(patients: int) -> dict[str, Any]:
    async with throwaway("bench") as settings:
        t0 = time.perf_counter()
        events = await publish_all(settings, patients)
        published = time.perf_counter() - t0
        ops = auth(settings, Role.OPS)
        app = create_app(settings.for_service("journey"))
        async with running(app) as http:
            t0 = time.perf_counter()
            first: list[tuple[float, int]] = []

            async def caught_up() -> bool:
                total = int((await http.get("/admin/lag", headers=ops)).json()["total"])
                if not first and total < events:
                    first.append((time.perf_counter(), total))
                return total == 0

            await eventually(caught_up, timeout=3600, interval=0.1)
            live_s = time.perf_counter() - t0
            began, left = first[0] if first else (t0, events)
            steady_s = time.perf_counter() - began
            live = (await http.get("/admin/projection", headers=ops)).json()
            assert live["patients"] == patients, live
            from pymongo import AsyncMongoClient

            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
            sample = await client[f"{settings.deployment}_journey"]["journeys"].find_one({})
            await client.close()
            await http.post("/admin/rebuild", headers=ops)

            async def rebuilt() -> dict[str, Any] | None:
                view = (await http.get("/admin/rebuild", headers=ops)).json()
                return view if view["state"] in ("done", "failed") else None

            view = await eventually(rebuilt, timeout=3600, interval=0.2)
    return {
        "patients": patients,
        "events": events,
        "publish_events_per_s": events / published,
        "live_events_per_s": events / live_s,
        "live_ms_per_event": 1000 * live_s / events,
        "live_steady_events_per_s": left / steady_s if steady_s else 0.0,
        "replay_events_per_s": view["events_per_second"],
        "replay_state": view["state"],
        "journey_document_bytes": len(bson.encode(sample)) if sample else 0,
    }
