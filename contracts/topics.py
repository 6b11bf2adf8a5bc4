"""Kafka topic names: one topic per producing service, keyed by patient_id."""

from enum import StrEnum


class Topic(StrEnum):
    INTAKE = "kap.intake.events"
    SCHEDULING = "kap.scheduling.events"
    SESSION = "kap.session.events"
    COACHING = "kap.coaching.events"


DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic for `topic` (DESIGN: events and messaging rules)."""
    return f"{topic}{DLQ_SUFFIX}"


AUDIT_TOPIC = "kap.audit.entries"
"""Every service's audit entries (`contracts.audit.AuditEntry`), keyed by patient_id; intake
keeps the network's audit trail from it. Not an event topic: the journey does not read it."""
