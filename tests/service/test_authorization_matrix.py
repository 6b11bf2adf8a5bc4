"""The authorisation matrix: every route of every service's OpenAPI, for every role, without a
token, in the caller's own site, at another site and (for coaches) for another coach's patient.

Each service runs in-process over the in-memory twin, seeded so that the out-of-scope
resources really exist (an all-sites token finds each of them): a patient at site-south while
every token is scoped to site-north, a patient of coach-ben while the coach's token is
coach-ana's, and (coaching, journey) a patient of coach-ana's at site-south. The roles a route
admits are the role names of its bearer security requirement in the OpenAPI (a route with none
fails the matrix unless it is a health check); the answers must be:

- no token: 401; a role the route does not admit: 403;
- another site or another coach's patient: 403 or 404, never 2xx and never a 409/422 that
  tells an out-of-scope record from an unknown one;
- never a 5xx; and no 2xx, in any scope, carries an id of a patient outside the caller's scope.

A request body is synthesised from the route's schema; a site named in the body is the
caller's own site whenever the path already addresses a resource (so a body cannot unlock a
resource stored elsewhere), and the addressed scope's site otherwise. Nothing printed or
asserted contains a response body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import Topic
from contracts.coaching import CoachAssigned, FollowUpTaskCreated
from contracts.intake import ConsentRecorded, EligibilityDecided
from contracts.scheduling import AppointmentBooked
from contracts.session import SessionDischarged
from contracts.vocabulary import (
    AppointmentKind,
    ConsentKind,
    CoursePhase,
    Decision,
    Protocol,
    TaskKind,
)
from harness.events import approved, referred, stamp
from services.coaching.main import create_app as coaching_app
from services.intake.main import create_app as intake_app
from services.journey import main as journey_main
from services.runtime.auth import Role, mint_token
from services.runtime.network import Network, load_network
from services.runtime.settings import Settings
from services.scheduling import main as scheduling_main
from services.session.domain import session_id_for
from services.session.main import create_app as session_app
from tests.support import apps
from tests.support.memory import MemoryDatabase
from tests.unit.intake.builders import referral_body

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
HOME = "site-north"
OWN, OTHER_SITE, OTHER_COACH, NO_TOKEN = "own site", "other site", "other coach", "no token"
OUT_OF_SCOPE = (OTHER_SITE, OTHER_COACH)
COACH = "coach-ana"
PUBLIC = frozenset({("GET", "/healthz"), ("GET", "/readyz")})
# Routes that reach Kafka itself (consumer lag, a replay): for their admitted role the
# in-process tier checks only who is refused.
EXTERNAL = frozenset({("journey", "GET", "/admin/lag"), ("journey", "POST", "/admin/rebuild")})
SCOPED_PARAMS = frozenset(
    {"patient_id", "site_id", "coach_id", "provider_id", "appointment_id", "session_id", "task_id"}
)


@dataclass
class Target:
    """What one scope addresses: path and query values, and the ids that mark its data."""

    site: str
    params: dict[str, str]
    markers: set[str] = field(default_factory=set)


@dataclass
class World:
    service: str
    app: FastAPI
    client: httpx.AsyncClient
    targets: dict[str, Target]
    hidden: set[str] = field(default_factory=set)


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def token(settings: Settings, role: Role, sites: tuple[str, ...]) -> dict[str, str]:
    subject = COACH if role is Role.COACH else f"{role.value}-tester"
    minted = mint_token(settings, subject, role, sites, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {minted}"}


def targets(patients: dict[str, str]) -> dict[str, Target]:
    """Own, other-site and other-coach targets from their patient ids."""
    coaches = {OWN: COACH, OTHER_SITE: "coach-cy", OTHER_COACH: "coach-ben"}
    sites = {OWN: HOME, OTHER_SITE: "site-south", OTHER_COACH: HOME}
    providers = {OWN: "rn-north-1", OTHER_SITE: "rn-south-1", OTHER_COACH: "rn-north-1"}
    return {
        scope: Target(
            site=sites[scope],
            params={
                "patient_id": patient,
                "site_id": sites[scope],
                "coach_id": coaches[scope],
                "provider_id": providers[scope],
            },
            markers={patient},
        )
        for scope, patient in patients.items()
    }


PATIENTS = {OWN: "pat-own-north", OTHER_SITE: "pat-far-south", OTHER_COACH: "pat-peer-north"}
# coach-ana's own patient at site-south: out of scope of her site-north token all the same.
AWAY = "pat-away-south"


def two_site_network() -> Network:
    """The network file's, with coach-ana also coaching at site-south."""
    base = load_network()
    return Network(
        sites=tuple(
            s.model_copy(update={"coaches": (*s.coaches, COACH)}) if s.site_id != HOME else s
            for s in base.sites
        )
    )


# --- the services, each seeded with one patient per scope -------------------------------------


@asynccontextmanager
async def intake_world() -> AsyncIterator[World]:
    service = apps.build(intake_app, "intake", now=NOW).service
    async with client_of(service.http) as client:
        ids: dict[str, str] = {}
        for scope, site in ((OWN, HOME), (OTHER_SITE, "site-south"), (OTHER_COACH, HOME)):
            created = await client.post(
                "/referrals",
                json=referral_body(site_id=site),
                headers=token(service.settings, Role.INTAKE_COORDINATOR, ("*",)),
            )
            assert created.status_code == 201, created.status_code
            ids[scope] = created.json()["patient_id"]
        yield World("intake", service.http, client, targets(ids))


@asynccontextmanager
async def scheduling_world() -> AsyncIterator[World]:
    app = scheduling_main.create_app(
        Settings().for_service("scheduling"), db=cast(Any, MemoryDatabase())
    )
    broker = cast(KafkaBroker, app._brokers[0])
    async with TestKafkaBroker(broker) as test_broker:
        for n, scope in enumerate(PATIENTS):
            site = "site-south" if scope == OTHER_SITE else HOME
            decision = approved(
                PATIENTS[scope],
                site,
                s=stamp(now=datetime.now(UTC), seed=7000 + 100 * n),
                protocol=Protocol.IV_KETAMINE_SERIES,
            )
            await test_broker.publish(decision.model_dump(mode="json"), Topic.INTAKE.value)
        fastapi = app._application  # the FastAPI app create_app built, without its lifespan
        found = targets(PATIENTS)
        for target in found.values():
            target.params["appointment_id"] = f"apt-{target.params['patient_id']}-dose-1"
        async with client_of(fastapi) as client:
            yield World("scheduling", fastapi, client, found)


@asynccontextmanager
async def session_world() -> AsyncIterator[World]:
    service = apps.build(session_app, "session", now=NOW).service
    handlers = service.subscriptions
    found = targets(PATIENTS)
    async with client_of(service.http) as client:
        for n, (scope, target) in enumerate(found.items()):
            patient = target.params["patient_id"]
            before = stamp("scheduling", now=NOW - timedelta(days=2), seed=8000 + 100 * n)
            booked = AppointmentBooked(
                **before.envelope(patient, target.site),
                appointment_id=f"apt-{patient}",
                kind=AppointmentKind.DOSING,
                starts_at=NOW - timedelta(minutes=30),
                ends_at=NOW + timedelta(hours=2),
                dose_number=1,
                protocol=Protocol.IV_KETAMINE_SERIES,
                course_phase=CoursePhase.INDUCTION,
            )
            consent = ConsentRecorded(
                **before.envelope(patient, target.site),
                consent=ConsentKind.TREATMENT,
                given=True,
            )
            approved = EligibilityDecided(
                **before.envelope(patient, target.site),
                decision=Decision.APPROVED,
                decided_by="dr-psy",
                protocol=Protocol.IV_KETAMINE_SERIES,
            )
            await handlers[Topic.SCHEDULING][AppointmentBooked](booked)
            await handlers[Topic.INTAKE][ConsentRecorded](consent)
            await handlers[Topic.INTAKE][EligibilityDecided](approved)
            checked_in = await client.post(
                f"/patients/{patient}/sessions",
                json={"appointment_id": f"apt-{patient}"},
                headers=token(service.settings, Role.NURSE, ("*",)),
            )
            assert checked_in.status_code == 201, (scope, checked_in.status_code)
            target.params["appointment_id"] = f"apt-{patient}"
            target.params["session_id"] = session_id_for(f"apt-{patient}")
        yield World("session", service.http, client, found)


@asynccontextmanager
async def coaching_world() -> AsyncIterator[World]:
    db = MemoryDatabase()
    service = apps.build(
        coaching_app, "coaching", db=db, now=NOW, network=two_site_network()
    ).service
    found = targets(PATIENTS)
    # Least-loaded assignment, ties by id, gives: ana, ben, cy, then ana at site-south.
    seeded = [(OWN, HOME), (OTHER_COACH, HOME), (OTHER_SITE, "site-south"), (AWAY, "site-south")]
    for n, (scope, site) in enumerate(seeded, start=1):
        patient = found[scope].params["patient_id"] if scope in found else AWAY
        discharged = SessionDischarged(
            **stamp("session", now=NOW - timedelta(days=1), seed=9000 + 100 * n).envelope(
                patient, site
            ),
            session_id=f"ses-{n}",
            appointment_id=f"apt-{n}",
            protocol=Protocol.IV_KETAMINE_SERIES,
            dose_number=1,
            course_phase=CoursePhase.INDUCTION,
            monitoring_minutes=60,
        )
        await service.subscriptions[Topic.SESSION][SessionDischarged](discharged)
    docs = db["coaching_records"].docs
    for target in found.values():
        doc = docs[target.params["patient_id"]]
        assert doc["coach_id"] == target.params["coach_id"], "seeded coach assignment moved"
        tasks = [t["task_id"] for t in doc["open_tasks"]]
        target.params["task_id"] = tasks[0]
        target.markers |= set(tasks)
    assert docs[AWAY]["coach_id"] == COACH, "seeded coach assignment moved"
    hidden = {AWAY, *(t["task_id"] for t in docs[AWAY]["open_tasks"])}
    async with client_of(service.http) as client:
        yield World("coaching", service.http, client, found, hidden)


@asynccontextmanager
async def journey_world() -> AsyncIterator[World]:
    app = journey_main.create_app(
        Settings().for_service("journey"),
        network=two_site_network(),
        db=cast(Any, MemoryDatabase()),
    )
    found = targets(PATIENTS)
    away = Target("site-south", {"patient_id": AWAY, "coach_id": COACH}, {AWAY})
    async with TestKafkaBroker(cast(KafkaBroker, app._brokers[0])) as broker:
        for n, target in enumerate([*found.values(), away]):
            patient, coach = target.params["patient_id"], target.params["coach_id"]
            first, second, third = (
                stamp("coaching", now=NOW - timedelta(days=1), seed=10_000 + 100 * n + 10 * k)
                for k in range(3)
            )
            task = FollowUpTaskCreated(
                **third.envelope(patient, target.site),
                task_id=f"task-{patient}",
                kind=TaskKind.COACH_CHECK_IN,
                coach_id=coach,
                due_at=NOW + timedelta(hours=4),
            )
            assigned = CoachAssigned(**second.envelope(patient, target.site), coach_id=coach)
            for topic, event in (
                (Topic.INTAKE, referred(patient, target.site, first)),
                (Topic.COACHING, assigned),
                (Topic.COACHING, task),
            ):
                await broker.publish(event.model_dump(mode="json"), topic.value)
            target.markers.add(f"task-{patient}")
        fastapi = app._application  # the FastAPI app create_app built, without its lifespan
        async with client_of(fastapi) as client:
            yield World("journey", fastapi, client, found, away.markers)


WORLDS: dict[str, Callable[[], Any]] = {
    "intake": intake_world,
    "scheduling": scheduling_world,
    "session": session_world,
    "coaching": coaching_world,
    "journey": journey_world,
}


# --- routes, admitted roles and request synthesis ---------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    roles: frozenset[Role] | None


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app's OpenAPI, with the roles its bearer security requirement
    names (None: the operation requires no token)."""
    found = []
    for path, item in app.openapi()["paths"].items():
        for method, spec in item.items():
            named = [set(req.get("HTTPBearer", ())) for req in spec.get("security", ())]
            roles = frozenset(Role(r) for r in set().union(*named)) if named else None
            found.append(Operation(method.upper(), path, spec, roles))
    return found


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value valid for `schema`: required properties only, the first enum member, numbers
    mid-range, times a minute before the services' clock."""
    schema = resolve(schema, spec)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if resolve(o, spec).get("type") != "null"]
            return example(options[0], spec)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(properties[name], spec) for name in schema.get("required", ())}
    if kind == "array":
        return [example(schema.get("items", {}), spec)] * schema.get("minItems", 0)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return (NOW - timedelta(minutes=1)).isoformat()
        if fmt == "date":
            return NOW.date().isoformat()
        if fmt == "uuid":
            return str(UUID(int=42))
        return "x" * max(schema.get("minLength", 1), 1)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 2) - 1)
        return (low + high) // 2 if kind == "integer" else (low + high) / 2
    if kind == "boolean":
        return True
    return None


# Bodies the schema alone cannot make valid (cross-field rules in model validators).
BODIES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("intake", "POST", "/referrals"): referral_body(),
    ("scheduling", "PUT", "/admin/providers/{provider_id}"): {
        "role": "nurse",
        "availability": {"mon": ["08:00-18:00"]},
    },
    ("scheduling", "PUT", "/admin/sites/{site_id}"): {
        "name": "North Clinic",
        "time_zone": "America/New_York",
        "rems_certified": True,
        "hours": {"mon": ["08:00-18:00"]},
        "rooms": [{"room_id": "room-1", "kind": "monitoring", "chairs": ["chair-1"]}],
    },
    ("coaching", "POST", "/patients/{patient_id}/tasks/{task_id}/complete"): {
        "outcome": {"phq9": [1, 1, 1, 1, 1, 1, 1, 1, 0]}
    },
}


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    params: dict[str, str]
    body: Any


def body_schema(op: Operation, spec: dict[str, Any]) -> dict[str, Any] | None:
    if "requestBody" not in op.spec:
        return None
    return resolve(op.spec["requestBody"]["content"]["application/json"]["schema"], spec)


def addresses(op: Operation) -> bool:
    """Whether the path or query names a resource of some scope."""
    return any(p["name"] in SCOPED_PARAMS for p in op.spec.get("parameters", ()))


def request(world: World, op: Operation, target: Target) -> Request:
    """The request of `op` aimed at `target`; a site in the body is the caller's own when the
    path or query already addresses the target, else the target's."""
    spec = world.app.openapi()
    path, query = op.path, {}
    for param in op.spec.get("parameters", ()):
        name, where = param["name"], param["in"]
        if name in target.params:
            value = target.params[name]
        elif param.get("required") or where == "path":
            value = str(example(param.get("schema", {}), spec))
        else:
            continue
        if where == "path":
            path = path.replace("{" + name + "}", value)
        elif where == "query":
            query[name] = value
    schema = body_schema(op, spec)
    if schema is None:
        return Request(op.method, path, query, None)
    site = HOME if addresses(op) else target.site
    body = {**example(schema, spec), **BODIES.get((world.service, op.method, op.path), {})}
    if "site_id" in body:
        body["site_id"] = site
    if "sites" in body:
        body["sites"] = [site]
    if "provider_id" in body:
        body["provider_id"] = target.params["provider_id"]
    return Request(op.method, path, query, body)


def scoped(op: Operation, spec: dict[str, Any]) -> bool:
    """Whether the operation reaches into a scope: by path or query, or by a body's site."""
    schema = body_schema(op, spec)
    return addresses(op) or (schema is not None and "site_id" in schema.get("properties", {}))


def coach_scoped(op: Operation) -> bool:
    """Whether the operation reaches a coach's patients or queue."""
    names = {p["name"] for p in op.spec.get("parameters", ())}
    return bool(names & {"patient_id", "coach_id", "task_id", "session_id"})


# --- the matrix -------------------------------------------------------------------------------


@dataclass
class Verdicts:
    checked: int = 0
    routes: int = 0
    allowed: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def judge(
    op: Operation, role: Role | None, scope: str, status: int, text: str, foreign: set[str]
) -> str | None:
    """None when the answer is allowed, else what is wrong (no response content)."""
    if status >= 500:
        return f"server error {status}"
    if role is None:
        return None if status == 401 else f"{status} without a token (expected 401)"
    if op.roles is not None and role not in op.roles:
        return None if status == 403 else f"{status} for a role the route does not admit"
    if 200 <= status < 300 and any(marker in text for marker in foreign):
        return f"{status} carrying another scope's patient"
    if scope in OUT_OF_SCOPE and status not in (403, 404):
        return f"{status} out of scope (expected 403 or 404)"
    if status == 401:
        return "401 with a valid token"
    return None


def foreign_markers(world: World, role: Role) -> set[str]:
    """Ids the caller's token must never see: other sites', and for a coach other coaches'."""
    scopes = [OTHER_SITE, OTHER_COACH] if role is Role.COACH else [OTHER_SITE]
    return world.hidden | {m for scope in scopes for m in world.targets[scope].markers}


def scopes_of(op: Operation, role: Role | None, spec: dict[str, Any]) -> list[str]:
    """The scopes a role's request is checked in (no token: one request; own site last)."""
    if role is None:
        return [NO_TOKEN]
    found = [OTHER_SITE] if scoped(op, spec) else []
    if role is Role.COACH and coach_scoped(op):
        found.append(OTHER_COACH)
    return [*found, OWN]


async def check(world: World, op: Operation, role: Role | None, scope: str, v: Verdicts) -> None:
    """Send one cell of the matrix and judge its answer."""
    settings = cast(Settings, world.app.state.settings)
    headers = token(settings, role, (HOME,)) if role else {}
    req = request(world, op, world.targets[OWN if scope == NO_TOKEN else scope])
    response = await world.client.request(
        req.method, req.url, params=req.params, json=req.body, headers=headers
    )
    v.checked += 1
    foreign = foreign_markers(world, role) if role else set()
    wrong = judge(op, role, scope, response.status_code, response.text, foreign)
    name = f"{world.service} {op.method} {op.path} as {role.value if role else '-'} ({scope})"
    if wrong:
        v.violations.append(f"{name}: {wrong}")
    elif scope == OWN and 200 <= response.status_code < 300:
        v.allowed.append(name)


# A read per service by which an all-sites token finds every seeded target: the refusals the
# matrix sees are for resources that exist.
PROBES: dict[str, tuple[str, Role]] = {
    "intake": ("/patients/{patient_id}", Role.PSYCHIATRIST),
    "scheduling": ("/patients/{patient_id}/course", Role.NURSE),
    "session": ("/patients/{patient_id}/sessions/{session_id}", Role.NURSE),
    "coaching": ("/coaches/{coach_id}/tasks", Role.OPS),
    "journey": ("/patients/{patient_id}/journey", Role.OPS),
}


async def unseeded(world: World, ops: list[Operation]) -> list[str]:
    """The seeded targets an all-sites token does not find (none, or the matrix is moot)."""
    path, role = PROBES[world.service]
    op = next(op for op in ops if op.method == "GET" and op.path == path)
    headers = token(cast(Settings, world.app.state.settings), role, ("*",))
    missing = []
    for scope, target in world.targets.items():
        req = request(world, op, target)
        found = await world.client.get(req.url, params=req.params, headers=headers)
        if found.status_code != 200 or not any(m in found.text for m in target.markers):
            missing.append(f"{world.service} GET {path} ({scope}): the seeded target is missing")
    return missing


async def check_service(name: str, v: Verdicts) -> None:
    """One seeded world per service: first every request that must be refused (so nothing
    has changed the seed yet), then every request in the caller's own scope."""
    async with WORLDS[name]() as world:
        ops = [op for op in operations(world.app) if (op.method, op.path) not in PUBLIC]
        v.violations += await unseeded(world, ops)
        v.routes += len(ops)
        v.violations += [
            f"{name} {op.method} {op.path}: no role gate" for op in ops if not op.roles
        ]
        cells = [
            (op, role, scope)
            for op in ops
            if op.roles
            for role in (None, *Role)
            if not (role in op.roles and (name, op.method, op.path) in EXTERNAL)
            for scope in scopes_of(op, role, world.app.openapi())
        ]
        for own_pass in (False, True):
            for op, role, scope in cells:
                if (scope == OWN) is own_pass:
                    await check(world, op, role, scope, v)


@pytest.mark.parametrize("service", list(WORLDS))
async def test_no_route_answers_outside_the_callers_scope(service: str) -> None:
    verdicts = Verdicts()
    await check_service(service, verdicts)
    assert verdicts.routes > 0
    assert verdicts.allowed, "no request in the caller's own scope succeeded"
    assert not verdicts.violations, "\n".join(verdicts.violations)


async def test_only_a_prescriber_extends_a_course_and_the_matrix_checks_it() -> None:
    """DESIGN safety invariant 6: the extension route admits psychiatrists alone, documents
    its body, and the scheduling matrix above sends it for every role and scope."""
    async with scheduling_world() as world:
        spec = world.app.openapi()
        (op,) = [
            op
            for op in operations(world.app)
            if (op.method, op.path) == ("POST", "/patients/{patient_id}/course/extend")
        ]
        assert op.roles == frozenset({Role.PSYCHIATRIST})
        body = body_schema(op, spec)
        assert body is not None
        assert set(body["required"]) == {"planned_doses", "reason"}
        own = request(world, op, world.targets[OWN])
        headers = token(cast(Settings, world.app.state.settings), Role.PSYCHIATRIST, (HOME,))
        extended = await world.client.post(own.url, json=own.body, headers=headers)
        assert extended.status_code == 200
