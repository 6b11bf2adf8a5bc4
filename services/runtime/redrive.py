"""Dead letters: list, show and re-drive them; `kap dlq list|show|redrive` is the command line.

Listing and showing give each dead letter's provenance and error, never its payload, which
may hold health data. Re-driving republishes dead letters to their original topic with the
original key and value; consumers are idempotent, so a group that already processed the event
skips it.

Which letters were re-driven is kept as committed offsets on the dead-letter topic, never past
a letter that was not re-driven:

- `<deployment>-redrive` marks where a re-drive of *every* letter got to;
- `<deployment>-redrive.<consumer group>` marks where a re-drive of one consumer group's
  letters (`--group`) got to. It says nothing about other groups' letters, so those stay
  pending for a later re-drive of all or of their own group.

A letter counts as re-driven when it lies below either mark, so each is re-driven once.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from services.runtime.lag import partitions
from services.runtime.settings import Settings

GROUP_HEADER = "dlq.consumer_group"


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

    @property
    def group(self) -> str:
        return self.headers.get(GROUP_HEADER, "")

    def provenance(self) -> dict[str, str | int | None]:
        """Where the letter came from and why it failed; never the payload."""
        h = self.headers
        return {
            "partition": self.partition,
            "offset": self.offset,
            "original_topic": h.get("dlq.original_topic"),
            "original_partition": h.get("dlq.original_partition"),
            "original_offset": h.get("dlq.original_offset"),
            "consumer_group": h.get(GROUP_HEADER),
            "error_class": h.get("dlq.error_class"),
            "error": h.get("dlq.error"),
            "attempts": h.get("dlq.attempts"),
            "failed_at": h.get("dlq.failed_at"),
            "redriven_from": h.get("dlq.redriven_from"),
        }

    def summary(self) -> str:
        h = self.headers
        origin = f"{h.get('dlq.original_topic')}[{h.get('dlq.original_partition')}]"
        error = f"{h.get('dlq.error_class')}: {h.get('dlq.error')}"
        return (
            f"{self.partition}:{self.offset}  {origin}@{h.get('dlq.original_offset')}  "
            f"{h.get(GROUP_HEADER)}  {error}"
        )


def redrive_group(settings: Settings, only_group: str | None = None) -> str:
    """The consumer group whose committed offsets mark re-driven letters."""
    base = f"{settings.deployment}-redrive"
    return f"{base}.{only_group}" if only_group else base


async def committed(
    settings: Settings, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (0 where it committed nothing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp: max(found[tp].offset, 0) if tp in found else 0 for tp in tps}


async def read(
    settings: Settings, topic: str, start: dict[TopicPartition, int] | None = None
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """Letters from `start` (default: the beginning) up to the end offsets seen on entry,
    and those end offsets."""
    tps = await partitions(settings, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        if not tps:
            return [], {}
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        begins: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        # a mark below the log start (letters past retention) reads from the oldest letter kept
        first = {tp: max((start or {}).get(tp, 0), begins[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, first[tp])
        pending = {tp for tp in tps if first[tp] < ends[tp]}
        idle = 0
        while pending and idle < 10:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                letters += [DeadLetter.of(r) for r in records if r.offset < ends[tp]]
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return letters, ends
    finally:
        await consumer.stop()


async def commit(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                group_id=group, enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def list_letters(settings: Settings, topic: str) -> list[DeadLetter]:
    letters, _ = await read(settings, topic)
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


async def pending_letters(
    settings: Settings, topic: str, only_group: str | None = None
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """Letters not yet re-driven (optionally only one group's), and the topic's end offsets."""
    tps = await partitions(settings, [topic])
    every = await committed(settings, redrive_group(settings), tps)
    start = every
    if only_group:
        own = await committed(settings, redrive_group(settings, only_group), tps)
        start = {tp: max(every[tp], own[tp]) for tp in tps}
    letters, ends = await read(settings, topic, start)
    marks: dict[str, dict[TopicPartition, int]] = {}
    pending: list[DeadLetter] = []
    for letter in sorted(letters, key=lambda letter: (letter.partition, letter.offset)):
        if only_group and letter.group != only_group:
            continue
        if letter.group and letter.group not in marks:
            marks[letter.group] = await committed(
                settings, redrive_group(settings, letter.group), tps
            )
        done = marks.get(letter.group, {}).get(TopicPartition(topic, letter.partition), 0)
        if letter.offset >= done:
            pending.append(letter)
    return pending, ends


async def redrive(settings: Settings, topic: str, only_group: str | None = None) -> int:
    """Republish every not-yet-re-driven dead letter (optionally of one consumer group) and
    mark them re-driven; returns how many were sent."""
    letters, ends = await pending_letters(settings, topic, only_group)
    if not ends:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True)  # fmt: skip
    await producer.start()
    try:
        for letter in letters:
            origin = f"{topic}:{letter.partition}:{letter.offset}"
            await producer.send_and_wait(
                letter.headers["dlq.original_topic"], letter.value, key=letter.key,
                headers=[("dlq.redriven_from", origin.encode())],
            )  # fmt: skip
    finally:
        await producer.stop()
    await commit(settings, redrive_group(settings, only_group), ends)
    return len(letters)


async def find_letter(
    settings: Settings, topic: str, partition: int, offset: int
) -> DeadLetter | None:
    start = {TopicPartition(topic, partition): offset}
    letters, _ = await read(settings, topic, start)
    return next((x for x in letters if (x.partition, x.offset) == (partition, offset)), None)
