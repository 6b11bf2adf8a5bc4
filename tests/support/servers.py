"""Re-exports `harness.servers`, where the benchmarks and the tests share it."""

from harness.servers import (
    ROOT,
    STACK,
    Servers,
    ServersUnavailable,
    docker_engine_available,
    real_servers,
    remove_deployment,
)

__all__ = [
    "ROOT",
    "STACK",
    "Servers",
    "ServersUnavailable",
    "docker_engine_available",
    "real_servers",
    "remove_deployment",
]
