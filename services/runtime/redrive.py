"""Ops tool for dead letters: `python -m services.runtime.redrive list|redrive TOPIC.dlq`.

`list` prints each dead letter's provenance and error (never its payload, which may hold
health data). `redrive` republishes dead letters to their original topic with the original
key and value; consumers are idempotent, so a group that already processed the event skips
it. Re-driving commits the `<deployment>-redrive` group's offset on the dead-letter topic, so
each dead letter is re-driven once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from services.runtime.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        return cls(record.offset, record.partition, record.key, record.value or b"", headers)

    def summary(self) -> str:
        h = self.headers
        origin = f"{h.get('dlq.original_topic')}[{h.get('dlq.original_partition')}]"
        error = f"{h.get('dlq.error_class')}: {h.get('dlq.error')}"
        return (
            f"{self.partition}:{self.offset}  {origin}@{h.get('dlq.original_offset')}  "
            f"{h.get('dlq.consumer_group')}  {error}"
        )


async def read(
    settings: Settings, topic: str, group: str | None
) -> tuple[AIOKafkaConsumer, list[DeadLetter]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    letters: list[DeadLetter] = []
    while batch := await consumer.getmany(timeout_ms=1500):
        letters += [DeadLetter.of(r) for records in batch.values() for r in records]
    return consumer, letters


async def list_letters(settings: Settings, topic: str) -> list[DeadLetter]:
    consumer, letters = await read(settings, topic, group=None)
    await consumer.stop()
    return letters


async def redrive(settings: Settings, topic: str, only_group: str | None = None) -> int:
    """Republish every not-yet-re-driven dead letter (optionally of one consumer group)."""
    consumer, letters = await read(settings, topic, group=f"{settings.deployment}-redrive")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True)  # fmt: skip
    await producer.start()
    sent = 0
    try:
        for letter in letters:
            if only_group and letter.headers.get("dlq.consumer_group") != only_group:
                continue
            origin = f"{topic}:{letter.partition}:{letter.offset}"
            await producer.send_and_wait(
                letter.headers["dlq.original_topic"], letter.value, key=letter.key,
                headers=[("dlq.redriven_from", origin.encode())],
            )  # fmt: skip
            sent += 1
        await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Inspect and re-drive dead letters.")
    parser.add_argument("action", choices=["list", "redrive"])
    parser.add_argument("topic", help="a dead-letter topic, e.g. kap.intake.events.dlq")
    parser.add_argument("--group", help="redrive only letters dead-lettered by this group")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.action == "list":
        letters = asyncio.run(list_letters(settings, args.topic))
        for letter in letters:
            sys.stdout.write(letter.summary() + "\n")
        sys.stdout.write(f"{len(letters)} dead letters on {args.topic}\n")
    else:
        sent = asyncio.run(redrive(settings, args.topic, args.group))
        sys.stdout.write(f"re-drove {sent} dead letters from {args.topic}\n")


if __name__ == "__main__":
    main()
