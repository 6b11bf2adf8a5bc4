"""`make bench`: the race window between a safety fact in one service and the session's gate.

A fact owned by another service (a follow-up PHQ-9 risk flag from coaching, a treatment
consent withdrawn at intake) reaches the session service through Kafka. Until it arrives,
the session's dose gate cannot refuse on it. This measures that window on the local broker and
database, through the real gate: each patient is checked in with a passing pre-dose reading,
the fact is published, and the nurse's dose route is probed with an amount the protocol never
allows (57 mg esketamine). The answer is that amount's refusal until the fact is heard, then the
fact's own refusal (the facts are checked first); nothing is ever dosed by the probe.

It then measures the other half of the safeguard: a flag charted *before* a dose that was
accepted, heard after it, is raised as an unsafe dose (UnsafeDoseDetected and an urgent flag
for the prescriber); the time from publishing the late flag to the session showing it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.deployment import throwaway
from contracts import EventBase, Topic
from contracts.intake import ConsentRecorded, EligibilityDecided, RiskFlagRaised
from contracts.scheduling import AppointmentBooked
from contracts.vocabulary import (
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
    Protocol,
    RiskKind,
    RiskSeverity,
)
from harness.running import auth, eventually, running
from services.runtime.auth import Role
from services.runtime.settings import Settings
from services.session.main import create_app as session_app

SITE = "site-north"
RESULTS = Path(__file__).parent / "results" / "race-window.json"


def envelope(pid: str, producer: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": at,
        "patient_id": pid,
        "site_id": SITE,
        "correlation_id": uuid.uuid4(),
        "producer": producer,
    }


class Bench:
    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, producer: AIOKafkaProducer
    ) -> None:
        self.settings, self.http, self.producer = settings, http, producer
        self.nurse = auth(settings, Role.NURSE, subject="rn-bench", sites=SITE)

    async def publish(self, topic: Topic, event: EventBase) -> None:
        """As the owning service's outbox relay would: keyed by patient, acks=all."""
        await self.producer.send_and_wait(
            self.settings.kafka_topic_prefix + topic,
            event.to_bytes(),
            key=event.patient_id.encode(),
        )

    async def ready_to_dose(self, pid: str) -> str:
        """Approved, consented, REMS-enrolled and booked a day ago; checked in with a passing
        pre-dose reading ten minutes ago."""
        now = datetime.now(UTC)
        day = now - timedelta(days=1)
        intake = [
            EligibilityDecided(
                **envelope(pid, "intake", day),
                decision=Decision.APPROVED,
                decided_by="dr-bench",
                protocol=Protocol.ESKETAMINE_TRD,
            ),
            *(
                ConsentRecorded(**envelope(pid, "intake", day), consent=kind, given=True)
                for kind in (ConsentKind.TREATMENT, ConsentKind.REMS_ENROLMENT)
            ),
        ]
        for event in intake:
            await self.publish(Topic.INTAKE, event)
        appointment = f"apt-{pid}"
        await self.publish(
            Topic.SCHEDULING,
            AppointmentBooked(
                **envelope(pid, "scheduling", day),
                appointment_id=appointment,
                kind=AppointmentKind.DOSING,
                starts_at=now - timedelta(minutes=30),
                ends_at=now + timedelta(hours=2),
                dose_number=1,
                protocol=Protocol.ESKETAMINE_TRD,
                course_phase=CoursePhase.INDUCTION,
            ),
        )
        path = f"/patients/{pid}/sessions"

        async def checked_in() -> str | None:
            body = {"appointment_id": appointment, "observed_at": self.at(-20)}
            answer = await self.http.post(path, json=body, headers=self.nurse)
            return str(answer.json()["session_id"]) if answer.status_code in (200, 201) else None

        session: str = await eventually(checked_in, timeout=120, interval=0.2)
        reading = {"systolic": 128, "diastolic": 80, "heart_rate": 70, "spo2": 98}
        await self.http.post(
            f"{path}/{session}/vitals",
            json=reading | {"observed_at": self.at(-10)},
            headers=self.nurse,
        )
        return f"{path}/{session}"

    @staticmethod
    def at(minutes: float) -> str:
        return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()

    async def window(self, session: str, topic: Topic, fact: EventBase, rule: str) -> float:
        """Seconds from publishing the fact to the dose gate refusing on it."""
        probe = {"dose_mg": 57, "lot_number": "PROBE"}
        t0 = time.perf_counter()
        await self.publish(topic, fact)
        while True:
            answer = await self.http.post(f"{session}/dose", json=probe, headers=self.nurse)
            error = answer.json().get("error")
            if error == rule:
                return time.perf_counter() - t0
            if error != "EsketamineDoseNotAllowed":
                raise RuntimeError(f"unexpected answer {answer.status_code} {error}")
            await asyncio.sleep(0.005)

    async def detection(self, pid: str, session: str) -> float:
        """Dose accepted; then a flag charted a minute before it arrives: seconds from
        publishing it to the session showing the dose raised."""
        dosed = await self.http.post(
            f"{session}/dose",
            json={"dose_mg": 56, "lot_number": "LOT-B", "observed_at": self.at(-1)},
            headers=self.nurse,
        )
        assert dosed.status_code == 201, dosed.text
        t0 = time.perf_counter()
        await self.publish(Topic.COACHING, self.flag(pid, datetime.now(UTC) - timedelta(minutes=2)))
        while True:
            view = (await self.http.get(session, headers=self.nurse)).json()
            if view["breaches"]:
                return time.perf_counter() - t0
            await asyncio.sleep(0.005)

    @staticmethod
    def flag(pid: str, at: datetime) -> RiskFlagRaised:
        return RiskFlagRaised(
            **envelope(pid, "coaching", at),
            flag_id=uuid.uuid4(),
            kind=RiskKind.PHQ9_ITEM9,
            severity=RiskSeverity.HIGH,
            acknowledge_by=at + timedelta(hours=24),
        )


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def bench(patients: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[float]] = {"coaching_flag": [], "intake_withdrawal": [], "detect": []}
    async with throwaway("race") as settings:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await producer.start()
        try:
            async with running(session_app(settings.for_service("session"))) as http:
                await measure(Bench(settings, http, producer), patients, results)
        finally:
            await producer.stop()
    return {path: summary(samples) for path, samples in results.items() if samples}


async def measure(b: Bench, patients: int, results: dict[str, list[float]]) -> None:
    """Every third patient per path: a coaching flag, an intake withdrawal, a late flag."""
    for n in range(patients):
        pid = f"pat-race-{n}"
        session = await b.ready_to_dose(pid)
        if n % 3 == 0:
            flag = b.flag(pid, datetime.now(UTC))
            results["coaching_flag"].append(
                await b.window(session, Topic.COACHING, flag, "OpenRiskFlag")
            )
        elif n % 3 == 1:
            withdrawn = ConsentRecorded(
                **envelope(pid, "intake", datetime.now(UTC)),
                consent=ConsentKind.TREATMENT,
                given=False,
            )
            results["intake_withdrawal"].append(
                await b.window(session, Topic.INTAKE, withdrawn, "TreatmentConsentMissing")
            )
        else:
            results["detect"].append(await b.detection(pid, session))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=60)
    args = parser.parse_args()
    table = asyncio.run(bench(args.patients))
    print("race window: fact published -> session gate refusing on it (real broker + database)")
    print(f"{'path':<40} {'n':>4} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    labels = {
        "coaching_flag": "coaching follow-up flag -> dose refused",
        "intake_withdrawal": "intake consent withdrawn -> dose refused",
        "detect": "late flag -> dose raised as unsafe",
    }
    for path, row in table.items():
        print(
            f"{labels[path]:<40} {row['n']:>4} {row['p50_ms']:>9} {row['p99_ms']:>9} "
            f"{row['max_ms']:>9}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
