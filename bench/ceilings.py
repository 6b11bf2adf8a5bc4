"""Raw ceilings of the servers the project runs on, measured in the same run as the project.

- Kafka's own `ProducerPerformance` / `ConsumerPerformance` (from the cached Kafka jars, with
  java), 500-byte records, acks=all;
- a raw aiokafka consume -> produce loop (what a relaying consumer could do at best in Python);
- raw PyMongo: a `find_one` + `replace_one` by `_id` per document, one after the other, and a
  bulk upsert, at the journey document's size. (Concurrent read-replace of distinct documents
  wedged FerretDB 1.24 on this box twice: every PostgreSQL connection of its pool left idle
  and checked out; so the per-document ceiling is the sequential one.)
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient, ReplaceOne

from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RECORD_BYTES = 500
BULK_STATEMENTS = 25
"""Replaces per bulk write. FerretDB 1.24 holds a PostgreSQL connection for each statement of
an update command until the command ends: one bulk of 500 exhausted its pool of 50 and left it
answering nothing (every connection checked out and idle) until restarted; this step's
"FerretDB stopped answering" of earlier runs was that."""


def kafka_classpath() -> str | None:
    found = sorted(glob.glob(str(ROOT / ".cache" / "infra" / "kafka-*" / "libs")))
    return f"{found[-1]}/*" if found else None


def _java(args: list[str]) -> str:
    classpath = kafka_classpath()
    if classpath is None:
        raise RuntimeError("no cached Kafka jars under .cache/infra (bash infra/local/stack.sh)")
    done = subprocess.run(["java", "-cp", classpath, *args], capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    return done.stdout


def kafka_tools(settings: Settings, records: int) -> dict[str, float]:
    """Kafka's own producer and consumer performance tools on a throwaway topic."""
    topic = f"{settings.kafka_topic_prefix}perf-{uuid.uuid4().hex[:6]}"
    bootstrap = settings.kafka_bootstrap_servers
    produced = _java(["org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                      "--num-records", str(records), "--record-size", str(RECORD_BYTES),
                      "--throughput", "-1", "--command-property", f"bootstrap.servers={bootstrap}",
                      "acks=all"])  # fmt: skip
    rate = re.findall(r"([\d.]+) records/sec", produced)
    consumed = _java(["org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server",
                      bootstrap, "--topic", topic, "--num-records", str(records)])  # fmt: skip
    last = consumed.strip().splitlines()[-1].split(", ")
    return {"produce_msgs_per_s": float(rate[-1]), "consume_msgs_per_s": float(last[5])}


async def aiokafka_loop(settings: Settings, records: int) -> dict[str, float]:
    """Consume `records` 500-byte records and produce each to another topic (acks=all),
    one flush per fetched batch: the ceiling of a Python consume -> produce step."""
    source = f"{settings.kafka_topic_prefix}loop-in-{uuid.uuid4().hex[:6]}"
    sink = f"{settings.kafka_topic_prefix}loop-out-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 3, 1) for t in (source, sink)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                enable_auto_commit=False, group_id=None)  # fmt: skip
    try:
        payload = os.urandom(RECORD_BYTES // 2).hex().encode()
        for n in range(records):
            await producer.send(source, payload, key=str(n % 1000).encode())
        await producer.flush()
        await consumer.start()
        assigned = [TopicPartition(source, p) for p in range(3)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        moved, started = 0, time.perf_counter()
        while moved < records and time.perf_counter() - started < 120:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            for messages in batch.values():
                for record in messages:
                    await producer.send(sink, record.value, key=record.key)
                moved += len(messages)
            await producer.flush()
        return {"consume_produce_msgs_per_s": moved / (time.perf_counter() - started)}
    finally:
        await consumer.stop()
        await producer.stop()


async def mongo_raw(settings: Settings, documents: int, size: int) -> dict[str, float]:
    """Per-document read-then-replace by `_id` and a bulk upsert, at `size` bytes a document."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    db = client[f"{settings.deployment}_raw"]
    collection = db["docs"]
    filler = "x" * max(size - 100, 0)
    await client.drop_database(db.name)  # what a run cut short left behind
    try:
        for first in range(0, documents, 100):
            await collection.insert_many(
                [{"_id": f"d{n}", "n": 0, "filler": filler} for n in range(first, first + 100)]
            )
        started = time.perf_counter()
        for n in range(documents):
            doc = await collection.find_one({"_id": f"d{n}"})
            assert doc is not None
            await collection.replace_one({"_id": f"d{n}"}, {**doc, "n": doc["n"] + 1})
        sequential = documents / (time.perf_counter() - started)
        started = time.perf_counter()
        for first in range(0, documents, BULK_STATEMENTS):
            await collection.bulk_write([
                ReplaceOne({"_id": f"d{n}"}, {"n": 2, "filler": filler}, upsert=True)
                for n in range(first, min(first + BULK_STATEMENTS, documents))
            ])  # fmt: skip
        bulk = documents / (time.perf_counter() - started)
        return {"read_replace_docs_per_s": sequential, "bulk_upsert_docs_per_s": bulk,
                "document_bytes": size}  # fmt: skip
    finally:
        await client.drop_database(db.name)
        await client.close()
