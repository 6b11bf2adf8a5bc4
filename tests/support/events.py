"""Re-exports `harness.events`, where the benchmarks and the tests share it."""

from harness.events import (
    SYNTHETIC_IDENTITY,
    T0,
    approved,
    referred,
    screened,
    sequential_ids,
    stamp,
)

__all__ = [
    "SYNTHETIC_IDENTITY",
    "T0",
    "approved",
    "referred",
    "screened",
    "sequential_ids",
    "stamp",
]
