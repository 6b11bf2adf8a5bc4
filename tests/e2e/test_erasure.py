"""Crypto-shredding end to end: a canary patient is referred, treated and followed up by the
five services as real processes on the real broker and database; after the privacy officer's
erasure no Kafka topic (dead letters included) and no database collection holds the canary's
name, nor the data key that would decrypt it, while the journey and the coach queue still
work for that patient."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from bson import json_util
from pymongo import AsyncMongoClient

from demo.client import Api, until
from demo.scenario import TRD_TRIALS, Scenario, referral
from services.runtime.auth import Role
from services.runtime.crypto import KeyRing, WrappedKey
from services.runtime.settings import Settings
from services.runtime.topics import topic_names
from tests.support.processes import service_processes

pytestmark = pytest.mark.infra

CANARY_GIVEN, CANARY_FAMILY = "Quillonette", "Zarvembrook"
"""A name no other data contains: finding it anywhere means the identity leaked."""
WAIT_S = 60.0


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    with service_processes(settings, tmp_path) as api:
        yield api


async def topic_bytes(settings: Settings) -> dict[str, list[bytes]]:
    """Every record (value and header values) of every topic of the deployment, DLQs too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    found: dict[str, list[bytes]] = {}
    try:
        for topic in topic_names(settings):
            assigned = [TopicPartition(topic, p) for p in range(settings.kafka_topic_partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            ends = await consumer.end_offsets(assigned)
            records: list[bytes] = []
            while [p for p, end in ends.items() if await consumer.position(p) < end]:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                for polled in batch.values():
                    for record in polled:
                        records.append(record.value or b"")
                        records += [value for _, value in record.headers]
            found[topic] = records
    finally:
        await consumer.stop()
    return found


async def database_texts(settings: Settings) -> dict[str, list[str]]:
    """Every document of every collection of every database of the deployment, as text."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    texts: dict[str, list[str]] = {}
    try:
        for name in await client.list_database_names():
            if not name.startswith(f"{settings.deployment}_"):
                continue
            db = client[name]
            for collection in await db.list_collection_names():
                docs = [json_util.dumps(d) async for d in db[collection].find({})]
                texts[f"{name}.{collection}"] = docs
    finally:
        await client.close()
    return texts


async def wrapped_key_of(settings: Settings, patient_id: str) -> dict[str, Any] | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        return await client[f"{settings.deployment}_intake"]["identity_keys"].find_one(
            {"_id": patient_id}
        )
    finally:
        await client.close()


def coach_tasks_of(api: Api, patient_id: str) -> list[dict[str, Any]]:
    journey = api.get("journey", f"/patients/{patient_id}/journey", Role.NURSE)
    coach = journey.get("coach_id")
    if not coach:
        return []
    queue = api.get("coaching", f"/coaches/{coach}/tasks", Role.COACH, coach)
    return [t for t in queue if t["patient_id"] == patient_id]


async def test_erasure_leaves_no_readable_identity_anywhere_and_the_care_record_works(
    stack: Api, settings: Settings
) -> None:
    scenario = Scenario(stack)
    body = referral("site-north", 1, [2, 3, 2, 2, 2, 2, 2, 2, 0], [], TRD_TRIALS)
    body["identity"] = {**body["identity"], "given_name": CANARY_GIVEN,
                        "family_name": CANARY_FAMILY}  # fmt: skip
    pid = scenario.refer("Canary", body)
    scenario.approve(pid, "esketamine_trd")
    await asyncio.to_thread(scenario.treat, "Canary", pid, 56)
    tasks = await asyncio.to_thread(
        until, lambda: coach_tasks_of(stack, pid), WAIT_S, "the canary's coach tasks"
    )

    before = stack.get("intake", f"/patients/{pid}", Role.NURSE)
    assert before["identity"]["given_name"] == CANARY_GIVEN, "the name decrypts before"
    stored = await wrapped_key_of(settings, pid)
    assert stored is not None
    data_key = KeyRing.from_settings(settings).unwrap(
        WrappedKey(UUID(stored["key_id"]), stored["kek_id"], stored["wrapped"])
    )
    secrets = {
        "canary": CANARY_FAMILY,
        "wrapped data key": stored["wrapped"],
        "data key": base64.b64encode(data_key).decode(),
    }
    assert not any(
        CANARY_FAMILY.encode() in record
        for records in (await topic_bytes(settings)).values()
        for record in records
    ), "topics carry only ciphertext, even before erasure"

    erased = stack.post("intake", f"/patients/{pid}/erasure", Role.PRIVACY_OFFICER,
                        {"reason": "patient's erasure request"})  # fmt: skip
    assert erased["patient_id"] == pid

    after = stack.get("intake", f"/patients/{pid}", Role.NURSE)
    assert (after["identity"], after["identity_erased"]) == (None, True)
    for where, texts in (await database_texts(settings)).items():
        for what, secret in secrets.items():
            assert not any(secret in text for text in texts), f"{what} found in {where}"
    topics = await topic_bytes(settings)
    assert any(t.endswith(".dlq") for t in topics), "dead-letter topics are scanned too"
    for topic, records in topics.items():
        for what, secret in secrets.items():
            assert not any(secret.encode() in r for r in records), f"{what} found in {topic}"

    journey = stack.get("journey", f"/patients/{pid}/journey", Role.NURSE)
    assert (journey["phase"], journey["doses_given"]) == ("induction", 1)
    assert {t["task_id"] for t in coach_tasks_of(stack, pid)} == {t["task_id"] for t in tasks}
    fhir = stack.get("journey", f"/patients/{pid}/fhir", Role.NURSE)
    (patient,) = [
        e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patient["name"] == [{"text": "erased"}]

    def erasure_audited() -> list[dict[str, Any]]:
        page = stack.get("intake", f"/audit?patient_id={pid}", Role.PRIVACY_OFFICER)
        return [e for e in page["entries"] if e["action"] == "erase"]

    (entry,) = await asyncio.to_thread(until, erasure_audited, WAIT_S, "the erasure's entry")
    assert (entry["outcome"], entry["role"]) == ("allowed", "privacy_officer")
