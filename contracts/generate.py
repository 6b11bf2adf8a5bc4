"""Regenerate the checked-in JSON Schemas, AsyncAPI document and example FHIR bundle:
`python -m contracts.generate`."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.audit import AuditEntry
from contracts.catalog import EVENT_TYPES, TOPIC_EVENTS
from contracts.envelope import SCHEMA_VERSION
from contracts.topics import AUDIT_TOPIC, Topic, dlq
from services.journey.fhir_example import example_bundle

GENERATED = Path(__file__).parent / "generated"


def event_schemas() -> dict[str, str]:
    """One standalone JSON Schema per event type (and the audit entry), keyed by file name."""
    models: dict[str, type[BaseModel]] = {**EVENT_TYPES, "AuditEntry": AuditEntry}
    return {
        f"schemas/{name}.json": json.dumps(cls.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, cls in sorted(models.items())
    }


def asyncapi_document() -> str:
    """AsyncAPI 3.0 description of every topic, its messages and their payloads."""
    documented: dict[str, type[BaseModel]] = {**EVENT_TYPES, "AuditEntry": AuditEntry}
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (cls, "validation") for _, cls in sorted(documented.items())
    ]
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs.get("$defs", {})
    messages = {
        name: {
            "name": name,
            "title": name,
            "summary": (cls.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": refs[(cls, "validation")],
        }
        for name, cls in sorted(documented.items())
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, events in TOPIC_EVENTS.items():
        key = topic.name.lower()
        channels[key] = {
            "address": topic.value,
            "description": f"Keyed by patient_id. Dead letters go to {dlq(topic.value)}.",
            "messages": {
                cls.__name__: {"$ref": f"#/components/messages/{cls.__name__}"} for cls in events
            },
        }
        operations[f"{key}Publish"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{cls.__name__}"} for cls in events],
        }
    channels["audit"] = {
        "address": AUDIT_TOPIC,
        "description": "Every service's audit entries, keyed by patient_id; intake keeps the "
        f"trail. Dead letters go to {dlq(AUDIT_TOPIC)}.",
        "messages": {"AuditEntry": {"$ref": "#/components/messages/AuditEntry"}},
    }
    operations["auditPublish"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/audit"},
        "messages": [{"$ref": "#/channels/audit/messages/AuditEntry"}],
    }
    operations.update(receive_operations())
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "KAP care coordination events",
            "version": SCHEMA_VERSION,
            "description": "Typed events exchanged by the intake, scheduling, session and "
            "coaching services; the journey service consumes every topic.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)


def receive_operations() -> dict[str, Any]:
    """What each service consumes, read from the routing tables its running subscribers are
    registered from (`Service.subscriptions`), so the document and the live `/asyncapi` page
    of each service cannot disagree. A topic a service consumes in batches without a routing
    table (the journey projects every event) lists every event of the topic."""
    from services.runtime.settings import SERVICE_PORTS, Settings

    operations: dict[str, Any] = {}
    for name in sorted(SERVICE_PORTS):
        main = importlib.import_module(f"services.{name}.main")
        settings = Settings().for_service(name)
        service = main.create_app(settings)._application.state.service
        consumed = {t.removeprefix(settings.kafka_topic_prefix) for t in service.topics}
        tables = {t: service.subscriptions.get(t) for t in sorted(consumed)}
        for topic_value, routes in tables.items():
            topic = Topic(topic_value)
            key = topic.name.lower()
            events = TOPIC_EVENTS[topic] if routes is None else routes
            handled = sorted(cls.__name__ for cls in events if cls in TOPIC_EVENTS[topic])
            operations[f"{name}Receive{key.capitalize()}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"{name} handles {', '.join(handled)}",
                "messages": [{"$ref": f"#/channels/{key}/messages/{event}"} for event in handled],
            }
    return operations


def example_fhir_bundle() -> str:
    """The journey service's FHIR R4B export of a synthetic, demo-like treated patient."""
    return json.dumps(example_bundle(), indent=2) + "\n"


def artefacts() -> dict[str, str]:
    return {
        **event_schemas(),
        "asyncapi.yaml": asyncapi_document(),
        "fhir/example-bundle.json": example_fhir_bundle(),
    }


def write(root: Path = GENERATED) -> None:
    written = artefacts()  # before anything is deleted: a failure leaves the files as they were
    for stale in root.glob("schemas/*.json"):
        stale.unlink()
    for relative, text in written.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


if __name__ == "__main__":
    write()
    sys.stdout.write(f"wrote {len(artefacts())} files under {GENERATED}\n")
