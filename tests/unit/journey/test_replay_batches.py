"""The replay's batches: topics read in step, so a patient's events land in one batch and
most patients are inserted without a load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aiokafka import TopicPartition

from harness.traffic import patient_events
from services.journey.projections import Projections, project_batch
from services.journey.rebuild import in_step
from tests.support.memory import MemoryDatabase

INTAKE, SCHEDULING = TopicPartition("intake", 0), TopicPartition("scheduling", 0)


@dataclass(frozen=True)
class Record:
    patient: int
    offset: int
    timestamp: int


class Topics:
    """A consumer whose fetches return at most `chunk` records per partition, as Kafka's
    per-partition fetch limit does: the topic with more events per patient falls behind."""

    def __init__(self, logs: dict[TopicPartition, list[Record]], chunk: int) -> None:
        self.logs, self.chunk = logs, chunk
        self.at = dict.fromkeys(logs, 0)

    async def getmany(self, *tps: TopicPartition, **_: Any) -> dict[TopicPartition, list[Record]]:
        fetched = {tp: self.logs[tp][self.at[tp] : self.at[tp] + self.chunk] for tp in tps}
        for tp, records in fetched.items():
            self.at[tp] += len(records)
        return fetched

    async def position(self, tp: TopicPartition) -> int:
        return self.at[tp]


def logs(patients: int) -> dict[TopicPartition, list[Record]]:
    """Three intake and then two scheduling events per patient, written one patient after
    another (as `harness.traffic` publishes them)."""
    intake = [Record(p, 3 * p + k, 10 * p + k) for p in range(patients) for k in range(3)]
    scheduling = [Record(p, 2 * p + k, 10 * p + 3 + k) for p in range(patients) for k in range(2)]
    return {INTAKE: intake, SCHEDULING: scheduling}


async def test_a_patients_events_on_two_topics_are_replayed_in_one_batch_but_at_a_cut() -> None:
    topics = logs(200)
    end = {tp: len(records) for tp, records in topics.items()}
    consumer = Topics(topics, chunk=30)
    batches = [b async for b in in_step(cast(Any, consumer), set(end), cast(Any, end), 50)]
    batch_of: dict[int, set[int]] = {}
    for n, batch in enumerate(batches):
        for record in batch:
            batch_of.setdefault(record.patient, set()).add(n)
    split = [p for p, seen in batch_of.items() if len(seen) > 1]
    assert len(batch_of) == 200
    assert len(split) <= len(batches), "at most the patient at each cut is split"
    assert len(split) < 200 // 10
    replayed = [r for batch in batches for r in batch]
    for records in topics.values():
        assert [r for r in replayed if r in records] == records, "each partition in order, once"


async def test_a_replay_batch_inserts_without_loads_and_merges_a_patient_already_written() -> None:
    """The replay inserts a batch's patients without loading them; a patient an earlier batch
    (or the live consumer's dual write) already put in the generation fails its insert and is
    loaded and applied on top, losing nothing."""
    db = MemoryDatabase()
    projections = Projections(cast(Any, db))
    store, summaries = projections.store("journeys_g1"), projections.summaries_of("journeys_g1")
    first = [e for _, e in patient_events(1)]
    second = [e for _, e in patient_events(2)]
    await project_batch(store, summaries, first[:3])
    reads = db["journeys_g1"].documents_read
    await project_batch(store, summaries, [*first[3:], *second])
    assert db["journeys_g1"].documents_read == reads + 1, "only the patient already written"
    doc = db["journeys_g1"].docs[first[0].patient_id]
    assert doc["version"] == 2
    assert sorted(doc["processed"]) == sorted(str(e.event_id) for e in first)
    assert db["journeys_g1_summary"].docs[first[0].patient_id]["timeline_length"] == 5
    assert db["journeys_g1"].docs[second[0].patient_id]["version"] == 1
    assert db["journeys_g1_summary"].docs[second[0].patient_id]["timeline_length"] == 5
