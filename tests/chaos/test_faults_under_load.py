"""A short seeded chaos run on every build: two instances of every service under steady patient
journeys while service processes are killed and paused (right after commits, mid-batch), the
broker and the database are restarted; then the ledger is checked against what the system holds.

The tier runs its own Kafka, PostgreSQL and FerretDB on free ports, in a run directory of its
own (KAP_RUN_DIR), so restarting them never touches servers another tier or stack is using,
and it can run in any order; it is ordered last only because it is the slowest.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from chaos.faults import INFRA_KINDS
from chaos.run import execute, summary
from chaos.stack import ROOT, Stack, free_ports
from tests.conftest import missing_infrastructure

pytestmark = pytest.mark.chaos

SEED = int(os.environ.get("CHAOS_SEED", "2"))
"""Seed 2 schedules every kind of fault in 120 s, each service kind at least 3 times."""
FAULT_SECONDS = float(os.environ.get("CHAOS_FAULT_SECONDS", "120"))


@pytest.fixture
def stack() -> Iterator[Stack]:
    name = f"c{uuid.uuid4().hex[:8]}"
    run_dir = ROOT / ".run" / f"chaos-tier-{name}"
    own = Stack(run_dir, free_ports(), name)
    try:
        own.up()
    except (RuntimeError, OSError) as error:
        own.down()
        missing_infrastructure(f"the chaos tier's own Kafka/PostgreSQL/FerretDB: {error}")
    try:
        yield own
    finally:
        own.down()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_no_accepted_command_is_lost_or_applied_twice_while_processes_die(stack: Stack) -> None:
    result, _ = execute(stack, SEED, FAULT_SECONDS, quiet_seconds=10, workers=3,
                             converge_seconds=150)  # fmt: skip
    print(summary(result))
    assert result.not_restored == [], "every process the schedule stopped is back"
    assert set(result.faults) >= {"kafka", "postgres", "ferretdb"}
    assert sum(n for kind, n in result.faults.items() if kind not in INFRA_KINDS) >= 8
    assert result.commands["accepted"] >= 30, "the load kept flowing"
    assert result.lost == []
    assert result.duplicated == [], "every POST honours Idempotency-Key: no second effect"
    assert result.convergence_s is not None, "converged within the bound"
