"""Each service's live AsyncAPI (FastStream's, served at /asyncapi) shows the payload schema of
every event its routing table handles: subscribers are typed by their contract models. The
journey has no routing table: it projects every event of every topic in batches
(`services.runtime.batch`)."""

from __future__ import annotations

import json

import pytest
from faststream.specification import AsyncAPI

from tests.support import apps

ROOTS = apps.roots()


@pytest.mark.parametrize("name", sorted(set(ROOTS) - {"journey"}))
def test_the_live_asyncapi_shows_a_payload_schema_for_every_handled_event(name: str) -> None:
    built = apps.build(ROOTS[name].create_app, name)
    broker = built.app._brokers[0]
    spec = json.loads(AsyncAPI(broker, title=name, schema_version="3.0.0").to_specification()
                      .to_json())  # fmt: skip
    schemas = spec["components"]["schemas"]
    referenced = {
        ref["$ref"].rsplit("/", 1)[-1]
        for message in spec["components"]["messages"].values()
        for ref in message["payload"].get("oneOf", [message["payload"]])
        if "$ref" in ref
    }
    handled = {cls.__name__ for routes in built.service.subscriptions.values() for cls in routes}
    assert handled, "the service subscribes to something"
    assert handled <= referenced
    for event in handled:
        assert "event_id" in schemas[event]["properties"], event
