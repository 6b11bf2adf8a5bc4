"""docker-compose.yml is a valid Compose file and agrees with the code and image it runs."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from services.console.settings import CONSOLE_PORT, ConsoleSettings
from services.runtime.metrics import Metrics
from services.runtime.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = sorted(SERVICE_PORTS)
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Doc:
    document: Doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def validator() -> Validator:
    schema = json.loads((ROOT / "tests/fixtures/compose-spec.json").read_text(encoding="utf-8"))
    # The vendored schema declares its dialect (draft 2020-12); refuse to guess a default.
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12/")
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def schema_errors(validator: Validator, document: Doc) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def environment(service: Doc) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: str(value) for key, value in env.items()}


def container_ports(service: Doc) -> set[int]:
    specs = [p["target"] if isinstance(p, dict) else str(p) for p in service.get("ports", [])]
    return {int(str(spec).split("/")[0].rsplit(":", 1)[-1]) for spec in specs}


def named_volumes(service: Doc) -> set[str]:
    volumes = service.get("volumes", [])
    sources = [v.get("source", "") if isinstance(v, dict) else v.split(":")[0] for v in volumes]
    return {name for name in sources if name and not name.startswith((".", "/", "~", "$"))}


def dockerfile_instructions(keyword: str) -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.split()[1:] for line in text.splitlines() if line.startswith(f"{keyword} ")]


def test_compose_file_conforms_to_the_compose_specification(
    compose: Doc, validator: Validator
) -> None:
    assert schema_errors(validator, compose) == []
    assert "version" not in compose, "top-level `version:` is obsolete in the Compose spec"


@pytest.mark.parametrize(
    ("breakage", "path"),
    [
        (lambda doc: doc["services"]["intake"].update(ports=12), "services/intake/ports"),
        (lambda doc: doc.update(servces={}), "<root>"),
        (lambda doc: doc["services"]["mongo"].update(restart_policy="always"), "services/mongo"),
    ],
    ids=["ports-not-a-list", "unknown-top-level-key", "unknown-service-key"],
)
def test_schema_validation_rejects_a_broken_compose_file(
    compose: Doc, validator: Validator, breakage: Callable[[Doc], None], path: str
) -> None:
    broken = copy.deepcopy(compose)
    breakage(broken)
    with pytest.raises(ValidationError):
        validator.validate(broken)
    assert any(error.startswith(path) for error in schema_errors(validator, broken))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_runs_its_own_module_on_its_documented_port(compose: Doc, name: str) -> None:
    service, port = compose["services"][name], SERVICE_PORTS[name]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    assert environment(service)["HTTP_PORT"] == str(port)
    assert container_ports(service) == {port}
    assert service["restart"] == "unless-stopped"
    probe = " ".join(service["healthcheck"]["test"])  # readiness on this container's own port
    assert "http://127.0.0.1:" in probe
    assert "/readyz" in probe
    assert "os.environ['HTTP_PORT']" in probe or f":{port}/" in probe


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_module_the_compose_file_runs_exists(name: str) -> None:
    assert (ROOT / "services" / name / "__main__.py").is_file()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_services_only_set_environment_variables_that_settings_reads(
    compose: Doc, name: str
) -> None:
    env = environment(compose["services"][name])
    unknown = {key for key in env if key.lower() not in Settings.model_fields}
    assert unknown == set(), f"{name} sets env vars no Settings field reads: {unknown}"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["MONGODB_URL"] == "mongodb://mongo:27017"


def test_services_start_only_after_healthy_dependencies(compose: Doc) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        assert {"kafka", "mongo"} <= set(services[name]["depends_on"])
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on undefined service {target}"
            assert spec["condition"] == "service_healthy", f"{name} -> {target}"
            assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_every_named_volume_is_declared(compose: Doc) -> None:
    used = set().union(*(named_volumes(s) for s in compose["services"].values()))
    assert used, "kafka and mongo should keep their data in named volumes"
    assert used <= set(compose.get("volumes") or {})


def test_image_ships_the_code_and_listens_beyond_loopback_as_non_root() -> None:
    copied = {source.rstrip("/") for args in dockerfile_instructions("COPY") for source in args}
    assert {"contracts", "services", "config"} <= copied
    users = [args[0].split(":")[0] for args in dockerfile_instructions("USER")]
    assert users, "the image must switch to an unprivileged user"
    assert users[-1] not in ("root", "0")
    env = " ".join(" ".join(args) for args in dockerfile_instructions("ENV"))
    assert "HTTP_HOST=0.0.0.0" in env


def test_the_console_runs_on_8006_without_development_sign_in(compose: Doc) -> None:
    console = compose["services"]["console"]
    env = environment(console)
    assert console["command"] == ["python", "-m", "services.console"]
    assert env["HTTP_PORT"] == str(CONSOLE_PORT)
    assert container_ports(console) == {CONSOLE_PORT}
    assert env["CONSOLE_DEV_SIGN_IN"] == "false"
    read = set(ConsoleSettings.model_fields) | set(Settings.model_fields)
    assert {key for key in env if key.lower() not in read} == set()
    assert set(console["depends_on"]) == set(APP_SERVICES)
    for name in APP_SERVICES:
        assert env[f"{name.upper()}_URL"] == f"http://{name}:{SERVICE_PORTS[name]}"


OBSERVABILITY = ROOT / "infra/observability"
METRIC = re.compile(r"\b((?:kap|faststream)_[a-z_]+)\b")


def exported_samples() -> set[str]:
    """Every sample name the runtime's registry can export (counters end in `_total`...)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    families = Metrics("any", "group", "db").registry.collect()
    return {f.name + s for f in families for s in suffixes.get(f.type, ("",))}


def mounts(service: Doc) -> dict[str, str]:
    """Bind mounts of a service: container path -> host path (relative to the repo)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = source[2:]
    return found


def test_prometheus_scrapes_every_service_on_its_port(compose: Doc) -> None:
    prometheus = compose["services"]["prometheus"]
    config_dir = ROOT / mounts(prometheus)["/etc/prometheus"]
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "kap"]
    assert job["metrics_path"] == "/metrics"
    targets = {t: c["labels"]["service"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:{port}": name for name, port in SERVICE_PORTS.items()}
    for rules in config["rule_files"]:
        assert (config_dir / Path(rules).relative_to("/etc/prometheus")).is_file()


def test_alert_rules_cover_outbox_age_dead_letters_and_lag_with_exported_metrics() -> None:
    rules = yaml.safe_load((OBSERVABILITY / "prometheus/alerts.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    used = {name: set(METRIC.findall(expr)) for name, expr in alerts.items()}
    assert used["KapOutboxEventsWaiting"] == {"kap_outbox_oldest_age_seconds"}
    assert used["KapDeadLettersGrowing"] == {"kap_dead_letters_written_total"}
    assert used["KapConsumerLagHigh"] == {"kap_consumer_lag"}
    assert set().union(*used.values()) <= exported_samples()


def test_grafana_is_provisioned_with_prometheus_and_a_dashboard_of_exported_metrics(
    compose: Doc,
) -> None:
    grafana = compose["services"]["grafana"]
    bound = mounts(grafana)
    provisioning = ROOT / bound["/etc/grafana/provisioning"]
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text("utf-8"))
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards/kap.yml").read_text("utf-8"))
    (provider,) = providers["providers"]
    dashboards = ROOT / bound[provider["options"]["path"]]
    (board,) = [json.loads(f.read_text("utf-8")) for f in dashboards.glob("*.json")]
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert all(t["datasource"]["uid"] == source["uid"] for p in board["panels"]
               for t in p.get("targets", []))  # fmt: skip
    shown = set().union(*(METRIC.findall(expr) for expr in exprs))
    assert shown <= exported_samples()
    assert {
        "kap_outbox_oldest_age_seconds",
        "kap_dead_letters_written_total",
        "kap_consumer_lag",
        "kap_http_requests_total",
        "kap_messages_consumed_total",
    } <= shown
    assert any(p["type"] == "alertlist" for p in board["panels"])


def test_observability_is_published_on_loopback_only_with_healthchecks(compose: Doc) -> None:
    for name in ("prometheus", "grafana"):
        service = compose["services"][name]
        assert all(str(port).startswith("127.0.0.1:") for port in service["ports"]), name
        assert "healthcheck" in service
        assert named_volumes(service) <= set(compose["volumes"])
    password = environment(compose["services"]["grafana"])["GF_SECURITY_ADMIN_PASSWORD"]
    assert ":?" in password, "no default Grafana admin password"
