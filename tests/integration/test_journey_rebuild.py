"""Rebuilding the journey projection from the topics gives the live result, without a gap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.events import screened, stamp
from harness.running import auth, eventually, produce, running
from harness.traffic import publish_all
from services.journey.main import create_app
from services.runtime.auth import Role
from services.runtime.settings import Settings

pytestmark = pytest.mark.infra
PATIENTS = 60


async def test_a_rebuild_equals_the_live_projection_and_reads_never_see_it_half_built(
    settings: Settings,
) -> None:
    ops = auth(settings, Role.OPS)
    sent = await publish_all(settings, PATIENTS)
    intake = settings.kafka_topic_prefix + "kap.intake.events"
    await produce(settings.kafka_bootstrap_servers, intake, b"{not an event", "pat-load-00000")
    async with running(create_app(settings.for_service("journey"))) as http:

        async def caught_up() -> Any:
            lag = (await http.get("/admin/lag", headers=ops)).json()
            live = (await http.get("/admin/projection?content_hash=true", headers=ops)).json()
            return live if lag["total"] == 0 and live["patients"] == PATIENTS else None

        before = await eventually(caught_up, timeout=120)
        reference = (await http.get("/patients/pat-load-00007/journey", headers=ops)).json()

        started = await http.post("/admin/rebuild", headers=ops)
        assert started.status_code == 202
        assert (await http.post("/admin/rebuild", headers=ops)).status_code == 409
        reads: list[tuple[int, Any]] = []
        while (progress := (await http.get("/admin/rebuild", headers=ops)).json())[
            "state"
        ] == "running":
            read = await http.get("/patients/pat-load-00007/journey", headers=ops)
            reads.append((read.status_code, read.json()))
            await asyncio.sleep(0.01)
        assert progress["state"] == "done", progress
        after = (await http.get("/admin/projection?content_hash=true", headers=ops)).json()

        late = screened("pat-load-00001", "site-south", stamp(seed=99_000))
        await produce(settings.kafka_bootstrap_servers,
                      settings.kafka_topic_prefix + "kap.intake.events", late.to_bytes(),
                      late.patient_id)  # fmt: skip

        async def landed_in_new_generation() -> bool:
            journey = (await http.get("/patients/pat-load-00001/journey", headers=ops)).json()
            return len(journey["timeline"]) == 6

        await eventually(landed_in_new_generation, timeout=60)

    assert (progress["replayed"], progress["skipped"]) == (sent, 1)
    assert after["content_hash"] == before["content_hash"]
    assert (before["active"], after["active"]) == ("journeys", "journeys_g1")
    assert reads, "the rebuild finished before any read could overlap it"
    assert all(status == 200 and body == reference for status, body in reads)
    print(f"\n[rebuild] {sent} events, {progress['events_per_second']:.0f} events/s, "
          f"{len(reads)} reads during the rebuild")  # fmt: skip
