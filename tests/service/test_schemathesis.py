"""Every service's OpenAPI, fuzzed by schemathesis in-process over the in-memory database:
no request may end in a server error, and every answer must match the documented schema.

Each operation gets a few generated requests (deterministic, so CI does not flake), each with a
valid token of a role the route admits. Routes that reach Kafka (rebuild, lag, readiness) are
left out: there is no broker in this tier.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import BaseRoute

from services.runtime.auth import ALL_SITES, Role, mint_token
from services.runtime.settings import Settings
from tests.support import apps

ROOTS = apps.roots()
EXAMPLES_PER_OPERATION = 8
NEEDS_KAFKA = {("POST", "/admin/rebuild"), ("GET", "/admin/lag"), ("GET", "/readyz")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
Asgi = Callable[..., Any]


def service_over_memory(name: str) -> FastAPI:
    """The service's HTTP app as its composition root wires it, over an in-memory database."""
    return apps.build(ROOTS[name].create_app, name).http


def without_lifespan(app: FastAPI) -> Asgi:
    """The app without its lifespan (which starts Kafka and the relay): a lifespan scope is
    refused before any message, which ASGI servers read as "no lifespan support"."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan in the service tier")
        await app(scope, receive, send)

    return asgi


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from dependants(sub)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The app's routes, including those of included routers (kept apart since FastAPI 0.16x)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        yield from api_routes(getattr(getattr(route, "original_router", None), "routes", ()))


def admitted_roles(app: FastAPI) -> dict[tuple[str, str], tuple[Role, ...]]:
    """Per operation, the roles its `require(...)` dependency admits (every role otherwise)."""
    admitted: dict[tuple[str, str], tuple[Role, ...]] = {}
    for route in api_routes(app.routes):
        roles: tuple[Role, ...] = tuple(Role)
        for dep in dependants(route.dependant):
            if getattr(dep.call, "__qualname__", "").startswith("require."):
                closure = inspect.getclosurevars(cast(Any, dep.call)).nonlocals
                roles = tuple(sorted(closure.get("allowed", roles)))
        for method in route.methods or ():
            admitted[(method, route.path_format)] = roles
    return admitted


@dataclass
class Findings:
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz(name: str, findings: Findings) -> None:
    http = service_over_memory(name)
    settings: Settings = http.state.settings
    roles = admitted_roles(http)
    schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(http))
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            findings.failures.append(f"{name}: the OpenAPI is invalid: {result.err()}")
            continue
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in NEEDS_KAFKA:
            continue

        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), role=st.sampled_from(roles[key]))
        def exercise(case: schemathesis.Case[Any], role: Role) -> None:
            token = mint_token(settings, f"fuzz-{role.value}", role, [ALL_SITES])
            findings.requests += 1
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as failure:
            findings.failures.append(f"{name} {key[0]} {key[1]}: {failure}")


SERVICES = ["intake", "scheduling", "session", "coaching", "journey"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_integer_query_parameter_is_bounded_both_ways(name: str) -> None:
    """MongoDB takes 64-bit integers: a larger skip or limit must be a 422, not an overflow."""
    spec = service_over_memory(name).openapi()
    unbounded = [
        f"{method.upper()} {path} ?{parameter['name']}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", ())
        if parameter["in"] == "query"
        and "integer" in str(parameter["schema"])
        and not {"minimum", "maximum"} <= parameter["schema"].keys()
    ]
    assert not unbounded


@pytest.mark.parametrize("name", SERVICES)
def test_generated_requests_never_fail_the_server_or_the_documented_schema(name: str) -> None:
    findings = Findings()
    fuzz(name, findings)
    assert findings.requests >= EXAMPLES_PER_OPERATION, "schemathesis generated nothing"
    assert not findings.failures, "\n\n".join(findings.failures)
