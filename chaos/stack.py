"""The stack under test: Kafka, PostgreSQL + FerretDB and two instances of every service, run
by the project's launcher (infra/local/stack.sh) in a run directory of its own (KAP_RUN_DIR),
so restarting its Kafka or database never touches another stack's servers.

Processes are found through the launcher's pid files (`<pid> <start time>`): a pid counts as
ours only while its start time and command line still match, so a signal never reaches a
recycled pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.runtime.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra" / "local"
PYTHON = ROOT / ".venv" / "bin" / "python"
SERVICES = tuple(SERVICE_PORTS)
INSTANCE_PORT_STEP = 10
"""The launcher's rule: instance i of a service listens on its port + 10 * (i - 1)."""
INFRA_PORTS = ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "POSTGRES_PORT", "MONGODB_PORT")
SERVICE_PORT_VARS = tuple(f"{name.upper()}_PORT" for name in (*SERVICES, "console"))


def free_port(step: int = 0) -> int:
    """A port free now (and, with `step`, one free `step` above it too)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not step or port + step > 65535:
            return port
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + step))
            except OSError:
                continue
            return port


def free_ports() -> dict[str, str]:
    """Fresh ports for every server of a stack (service ports with room for instance 2)."""
    ports = {name: str(free_port()) for name in INFRA_PORTS}
    ports |= {name: str(free_port(INSTANCE_PORT_STEP)) for name in SERVICE_PORT_VARS}
    return ports


def env_ports() -> dict[str, str]:
    """The ports of the environment (the launcher's defaults where unset)."""
    defaults = {
        "KAFKA_PORT": 9092,
        "KAFKA_CONTROLLER_PORT": 9093,
        "POSTGRES_PORT": 5432,
        "MONGODB_PORT": 27017,
        "CONSOLE_PORT": 8006,
        **{f"{n.upper()}_PORT": p for n, p in SERVICE_PORTS.items()},
    }
    return {name: os.environ.get(name, str(value)) for name, value in defaults.items()}


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(") ", 1)[1].split()[19]


@dataclass
class Stack:
    run_dir: Path
    ports: dict[str, str]
    deployment: str
    instances: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.ports,
            **self.extra_env,
            "KAP_RUN_DIR": str(self.run_dir),
            "INSTANCES": str(self.instances),
            "DEPLOYMENT": self.deployment,
            "KAFKA_TOPIC_PREFIX": f"{self.deployment}.",
        }

    @property
    def settings(self) -> Settings:
        return Settings(
            deployment=self.deployment,
            kafka_topic_prefix=f"{self.deployment}.",
            kafka_bootstrap_servers=f"127.0.0.1:{self.ports['KAFKA_PORT']}",
            mongodb_url=f"mongodb://127.0.0.1:{self.ports['MONGODB_PORT']}",
        )

    def names(self, service: str) -> list[str]:
        return [service, *(f"{service}-{i}" for i in range(2, self.instances + 1))]

    def port(self, name: str) -> int:
        service, _, instance = name.partition("-")
        return int(self.ports[f"{service.upper()}_PORT"]) + INSTANCE_PORT_STEP * (
            int(instance or 1) - 1
        )

    def urls(self) -> dict[str, list[str]]:
        return {s: [f"http://127.0.0.1:{self.port(n)}" for n in self.names(s)] for s in SERVICES}

    def script(self, name: str, *args: str, timeout: float = 300) -> None:
        """Run an infra/local script; raise with its output's tail when it fails."""
        done = subprocess.run(
            ["bash", str(INFRA / name), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def up(self) -> None:
        self.script("stack.sh", "up", timeout=900)

    def down(self) -> None:
        self.script("stack.sh", "down", timeout=300)

    # --- processes ------------------------------------------------------------------------

    def pattern(self, name: str) -> str:
        if name == "kafka":
            return str(self.run_dir / "kafka" / "server.properties")
        if name == "ferretdb":
            return str(ROOT / ".cache" / "infra" / "bin" / "ferretdb")
        if name == "postgres":
            return "postgres"
        return f"{PYTHON} -m services.{name.partition('-')[0]} "

    def pid(self, name: str) -> int | None:
        """The live pid the launcher recorded for `name`, if it is still that process."""
        try:
            pid_text, started = (self.run_dir / "pids" / f"{name}.pid").read_text().split()
            pid = int(pid_text)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            return None
        if start_time(pid) != started or self.pattern(name) not in cmdline:
            return None
        return pid

    def send(self, name: str, sig: signal.Signals) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        os.kill(pid, sig)
        return True

    def start_service(self, name: str) -> None:
        """Start one service instance as the launcher does (same env, log and pid file)."""
        if self.pid(name) is not None:
            return
        logs, pids = self.run_dir / "logs", self.run_dir / "pids"
        logs.mkdir(parents=True, exist_ok=True)
        pids.mkdir(parents=True, exist_ok=True)
        urls = {f"{s.upper()}_URL": f"http://127.0.0.1:{self.port(s)}" for s in SERVICES}
        with (logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(PYTHON), "-m", f"services.{name.partition('-')[0]}"],
                cwd=ROOT,
                env={
                    **self.env,
                    **urls,
                    "HTTP_PORT": str(self.port(name)),
                    "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.ports['KAFKA_PORT']}",
                    "MONGODB_URL": f"mongodb://127.0.0.1:{self.ports['MONGODB_PORT']}",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (pids / f"{name}.pid").write_text(f"{process.pid} {start_time(process.pid)}\n")

    def healthy(self, name: str) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port(name)}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_services(self, timeout: float = 30) -> None:
        """SIGTERM every service instance (and console), wait, then SIGKILL what is left."""
        names = [n for s in (*SERVICES, "console") for n in self.names(s)]
        for name in names:
            self.send(name, signal.SIGCONT)
            self.send(name, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self.pid(n) for n in names) and time.monotonic() < deadline:
            time.sleep(0.3)
        for name in names:
            self.send(name, signal.SIGKILL)
            (self.run_dir / "pids" / f"{name}.pid").unlink(missing_ok=True)
