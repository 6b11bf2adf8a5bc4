"""One chaos run: load and faults together, a quiet period, then the checker until the system
has converged (or the bound has passed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos import checker, driver
from chaos.client import Client, Unavailable
from chaos.faults import Fault, Injector, schedule
from chaos.ledger import Ledger
from chaos.stack import Stack


@dataclass
class Result:
    seed: int
    deployment: str
    fault_seconds: float
    faults: dict[str, int]
    faults_skipped: dict[str, int]
    commands: dict[str, int]
    journeys: int
    stalls: dict[str, int]
    lost: list[str]
    duplicated: list[str]
    duplicated_after_retry: int
    unexpected: list[str]
    convergence_s: float | None
    """Seconds from the last fault undone to the first clean check (None: never clean)."""
    dead_letters: dict[str, int]
    not_restored: list[str]
    fault_log: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.lost and not self.duplicated and not self.not_restored

    def row(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        conv = f"{self.convergence_s:.1f}" if self.convergence_s is not None else "never"
        return (
            f"| {self.seed} | {faults} | {self.commands['accepted']} "
            f"| {len(self.lost)} | {len(self.duplicated)} ({self.duplicated_after_retry}) "
            f"| {len(self.unexpected)} | {conv} |"
        )

    def save(self, path: Path) -> None:
        with path.open("a") as out:
            out.write(json.dumps(asdict(self)) + "\n")


def execute(
    stack: Stack,
    seed: int,
    fault_seconds: float,
    quiet_seconds: float = 15.0,
    workers: int = 4,
    converge_seconds: float = 180.0,
    say: Callable[[str], None] = print,
) -> tuple[Result, Ledger]:
    """Drive load for `fault_seconds` with the seeded schedule injected, let the system be
    quiet, then check it until it converges within `converge_seconds`."""
    faults: list[Fault] = schedule(seed, fault_seconds, stack.instances)
    say(f"seed {seed}: {len(faults)} faults over {fault_seconds:.0f}s")
    for fault in faults:
        say(f"  {fault}")
    ledger = Ledger()
    client = Client(stack.urls(), stack.settings, ledger)
    injector = Injector(stack, client)
    stop_load = threading.Event()
    journeys: list[int] = []
    load = threading.Thread(
        target=lambda: journeys.append(driver.drive(client, stop_load, workers)), name="load"
    )
    start = time.monotonic()
    load.start()
    try:
        injector.run(faults, start)
        time.sleep(max(0.0, start + fault_seconds - time.monotonic()))
    finally:
        stop_load.set()  # also when interrupted: no journey outlives its run
    not_restored = injector.restore()
    restored = time.monotonic()
    say(f"faults done ({dict(injector.injected)}); every process back: {not not_restored}")
    load.join()
    say(f"load done: {journeys[0] if journeys else 0} journeys, {ledger.counts()}")
    time.sleep(quiet_seconds)
    result = settle(client, ledger, restored, converge_seconds, say)
    check, converged = result
    dup = check.of("duplicated")
    return Result(
        seed=seed,
        deployment=stack.deployment,
        fault_seconds=fault_seconds,
        faults=dict(injector.injected),
        faults_skipped=dict(injector.skipped),
        commands=ledger.counts(),
        journeys=journeys[0] if journeys else 0,
        stalls=dict(ledger.stalls),
        lost=[str(f) for f in check.of("lost")],
        duplicated=[str(f) for f in dup],
        duplicated_after_retry=sum(1 for f in dup if f.after_retry),
        unexpected=[str(f) for f in check.of("unexpected")],
        convergence_s=converged,
        dead_letters=check.dead_letters,
        not_restored=not_restored,
        fault_log=injector.log,
    ), ledger


def settle(
    client: Client, ledger: Ledger, restored: float, bound: float, say: Callable[[str], None]
) -> tuple[checker.Check, float | None]:
    """Check until nothing is lost and every consumer group has caught up, or `bound`
    seconds after the faults were undone; the time it took is the convergence time."""
    deadline = restored + bound
    last: checker.Check | None = None
    while True:
        try:
            last = checker.check(client, ledger)
        except (Unavailable, TimeoutError, OSError) as error:
            say(f"check failed ({type(error).__name__}: {error}); again")
        if last is not None and last.clean and not any(last.lag.values()):
            return last, round(time.monotonic() - restored, 1)
        if last is not None and not last.of("lost") and not any(last.lag.values()):
            return last, round(time.monotonic() - restored, 1)
        if time.monotonic() > deadline:
            if last is None:
                raise RuntimeError("the checker never got an answer")
            return last, None
        time.sleep(2.0)


def summary(result: Result) -> dict[str, Any]:
    return {k: v for k, v in asdict(result).items() if k != "fault_log"}
