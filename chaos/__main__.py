"""`python -m chaos run --seed N --minutes M`: start a stack of its own (two instances of every
service), drive patient journeys while the seeded fault schedule runs, check the ledger, exit
1 on anything lost or duplicated. `python -m chaos series --runs 20` repeats that with distinct
seeds on one stack (a fresh deployment per run) and appends each result to a JSON-lines file."""

from __future__ import annotations

import random
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chaos.run import Result, execute
from chaos.stack import ROOT, Stack, env_ports, free_ports

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()
RESULTS = ROOT / "chaos" / "results.jsonl"


def deployment(seed: int) -> str:
    """A fresh deployment (topics, databases, groups) for every run, named after its seed."""
    return f"chaos{seed}x{uuid.uuid4().hex[:6]}"


def make_stack(run_dir: Path, env: bool, deployment: str) -> Stack:
    return Stack(run_dir.resolve(), env_ports() if env else free_ports(), deployment)


def show(result: Result) -> None:
    table = Table(title=f"seed {result.seed}", show_header=False)
    for label, value in [
        ("faults injected", result.faults),
        ("faults skipped", result.faults_skipped),
        ("commands", result.commands),
        ("journeys", result.journeys),
        ("stalled journeys", result.stalls),
        ("lost", len(result.lost)),
        (
            "duplicated",
            f"{len(result.duplicated)} ({result.duplicated_after_retry} after a "
            "retry of a lost answer)",
        ),
        ("unexpected", len(result.unexpected)),
        ("convergence", f"{result.convergence_s} s"),
        ("dead letters", result.dead_letters),
        ("not restored", result.not_restored),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    for line in result.fault_log:
        console.print(f"  {line}", markup=False, highlight=False)
    for line in [*result.lost, *result.duplicated, *result.unexpected][:60]:
        console.print(f"  {line}", markup=False, highlight=False)


def one(stack: Stack, seed: int, minutes: float, workers: int, results: Path | None) -> Result:
    result, ledger = execute(
        stack,
        seed,
        minutes * 60,
        workers=workers,
        say=lambda s: console.print(s, markup=False, highlight=False),
    )
    ledger.dump(stack.run_dir / f"ledger-{seed}.jsonl")
    show(result)
    if results:
        result.save(results)
    return result


@app.command()
def run(
    seed: Annotated[int | None, typer.Option(help="Fault schedule seed (random if unset)")] = None,
    minutes: Annotated[float, typer.Option(help="Length of the fault window")] = 1.5,
    workers: Annotated[int, typer.Option(help="Journeys driven at a time")] = 4,
    env_ports_: Annotated[
        bool, typer.Option("--env-ports", help="Ports from the environment (default: free ports)")
    ] = False,
    run_dir: Annotated[Path, typer.Option(help="The stack's own state")] = ROOT / ".run/chaos",
    keep: Annotated[bool, typer.Option(help="Leave the stack running afterwards")] = False,
    results: Annotated[Path | None, typer.Option(help="Append the result here")] = None,
) -> None:
    """One seeded run on a stack of its own; exit 1 on anything lost or duplicated."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 10**6)
    stack = make_stack(run_dir, env_ports_, deployment(seed))
    console.print(f"stack in {stack.run_dir}, ports {stack.ports}")
    try:
        stack.stop_services()  # services a kept stack left: they serve another deployment
        stack.up()
        result = one(stack, seed, minutes, workers, results)
    finally:
        if not keep:
            stack.down()
    sys.exit(0 if result.passed else 1)


@app.command()
def series(
    runs: Annotated[int, typer.Option(help="How many runs")] = 20,
    first_seed: Annotated[int, typer.Option(help="Seeds first_seed, first_seed+1, ...")] = 1,
    minutes: Annotated[float, typer.Option(help="Fault window per run")] = 1.5,
    workers: Annotated[int, typer.Option()] = 4,
    env_ports_: Annotated[bool, typer.Option("--env-ports")] = False,
    run_dir: Annotated[Path, typer.Option()] = ROOT / ".run/chaos",
    results: Annotated[Path, typer.Option()] = RESULTS,
) -> None:
    """Runs with distinct seeds on one stack: the infrastructure stays, the services restart
    with a fresh deployment (own topics, databases, groups) for each run."""
    stack = make_stack(run_dir, env_ports_, deployment(first_seed))
    failed = []
    try:
        for seed in range(first_seed, first_seed + runs):
            stack.stop_services()
            stack.deployment = deployment(seed)
            try:
                stack.up()
            except RuntimeError:  # a start slower than the launcher's 60 s on a busy machine
                stack.up()
            started = time.monotonic()
            if not one(stack, seed, minutes, workers, results).passed:
                failed.append(seed)
            console.print(f"run {seed} took {time.monotonic() - started:.0f}s")
    finally:
        stack.down()
    console.print(f"{runs} runs, failed seeds: {failed or 'none'}")
    sys.exit(1 if failed else 0)


@app.command()
def table(results: Annotated[Path, typer.Argument()] = RESULTS) -> None:
    """The results file as a Markdown table."""
    import json

    print(
        "| seed | faults injected | accepted | lost | duplicated (after retry) | unexpected "
        "| convergence s |\n|---|---|---|---|---|---|---|"
    )
    found = [Result(**json.loads(line)) for line in results.read_text().splitlines()]
    for result in found:
        print(result.row())
    print()
    print(totals(found))


def totals(found: list[Result]) -> str:
    """One paragraph over a series: faults per kind, commands, what the checker found."""
    faults: dict[str, int] = {}
    commands: dict[str, int] = {}
    dead_letters = 0
    for result in found:
        for kind, n in result.faults.items():
            faults[kind] = faults.get(kind, 0) + n
        for kind, n in result.commands.items():
            commands[kind] = commands.get(kind, 0) + n
        dead_letters += sum(result.dead_letters.values())
    converged = [r.convergence_s for r in found if r.convergence_s is not None]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(faults.items()))
    return (
        (
            f"{len(found)} runs, seeds {found[0].seed}-{found[-1].seed}. Faults injected: "
            f"{sum(faults.values())} ({kinds}). Commands accepted: {commands.get('accepted', 0)}; "
            f"answers lost to faults: {commands.get('lost_answers', 0)}; 5xx seen by the client: "
            f"{commands.get('http_5xx', 0)}. Lost: {sum(len(r.lost) for r in found)}. Duplicated: "
            f"{sum(len(r.duplicated) for r in found)}. Unexpected: "
            f"{sum(len(r.unexpected) for r in found)}. Dead letters: {dead_letters}. Not restored: "
            f"{sum(len(r.not_restored) for r in found)}. Worst convergence: "
            f"{f'{max(converged)} s' if len(converged) == len(found) else 'never (a run did not)'}."
        )
        if found
        else "no runs"
    )


def clean(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    app()
