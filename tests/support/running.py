"""Re-exports `harness.running`, where the benchmarks and the tests share it."""

from harness.running import (
    auth,
    events_of,
    eventually,
    produce,
    quiet,
    read_all,
    read_topic,
    running,
)

__all__ = [
    "auth",
    "events_of",
    "eventually",
    "produce",
    "quiet",
    "read_all",
    "read_topic",
    "running",
]
