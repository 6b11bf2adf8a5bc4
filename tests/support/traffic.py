"""Re-exports `harness.traffic`, where the benchmarks and the tests share it."""

from harness.traffic import (
    patient_events,
)

__all__ = [
    "patient_events",
]
