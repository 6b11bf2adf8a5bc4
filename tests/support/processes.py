"""The five services as real processes of a throwaway deployment: one or more instances each."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from demo.client import Api
from services.runtime.settings import SERVICE_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def intake_url(urls: dict[str, list[str]]) -> dict[str, str]:
    """Where the journey finds intake (intake starts first: SERVICE_PORTS order)."""
    return {"INTAKE_URL": urls["intake"][-1]} if urls["intake"] else {}


def console_env(urls: dict[str, list[str]]) -> dict[str, str]:
    """The console finds each service's first instance; dev sign-in is on in tests."""
    return {"CONSOLE_DEV_SIGN_IN": "true", "CONSOLE_SSE_INTERVAL_S": "1",
            **{f"{name.upper()}_URL": found[0] for name, found in urls.items()}}  # fmt: skip


@contextmanager
def service_processes(
    settings: Settings,
    logs: Path,
    instances: int = 1,
    env: dict[str, str] | None = None,
    console: bool = True,
) -> Iterator[Api]:
    """Start `instances` processes per service (each on its own port, all of a service in one
    consumer group) and one console; yield an Api whose requests take a service's instances in
    turn (`api.urls["console"]` is the console)."""
    base = {**os.environ, "DEPLOYMENT": settings.deployment,
            "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "MONGODB_URL": settings.mongodb_url, "JWT_SECRET": settings.jwt_secret,
            **(env or {})}  # fmt: skip
    urls: dict[str, list[str]] = {name: [] for name in SERVICE_PORTS}
    processes = []
    try:
        for instance in range(1, instances + 1):
            for name in SERVICE_PORTS:
                port = free_port()
                log = (logs / f"{name}-{instance}.log").open("wb")
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"], cwd=ROOT, stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**base, "HTTP_PORT": str(port), **intake_url(urls)},
                ))  # fmt: skip
                urls[name].append(f"http://127.0.0.1:{port}")
        if console:
            port = free_port()
            log = (logs / "console-1.log").open("wb")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "services.console"], cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT, env={**base, "HTTP_PORT": str(port),
                                               **console_env(urls)},
            ))  # fmt: skip
            urls["console"] = [f"http://127.0.0.1:{port}"]
        api = Api({n: u[0] for n, u in urls.items()}, settings,
                  replicas={n: u[1:] for n, u in urls.items()})  # fmt: skip
        api.wait_ready(timeout=120)
        yield api
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
