"""`kap`: one command line for operators (tokens, status, dead letters, audit, rebuild, bench).

Every command reads the same settings as the services (`KAFKA_BOOTSTRAP_SERVERS`,
`KAFKA_TOPIC_PREFIX`, `DEPLOYMENT`, `JWT_SECRET`, ...); service URLs default to the local
stack's ports (`KAP_<NAME>_URL` overrides). `--json` prints plain data for scripts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from services.cli.audit import audit
from services.cli.keys import rotate_identity_keys
from services.cli.status import gather, service_url
from services.runtime import redrive as dead_letters
from services.runtime.auth import ALL_SITES, Role, mint_token
from services.runtime.settings import Settings

app = typer.Typer(help="Operate a KAP care-coordination stack.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and re-drive dead letters.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.command("audit")(audit)
app.command("rotate-identity-keys")(rotate_identity_keys)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="the caller's role")] = Role.OPS,
    sites: Annotated[str, typer.Option(help="comma-separated site ids, or *")] = ALL_SITES,
    subject: Annotated[str | None, typer.Option(help="default: dev-<role>")] = None,
    hours: Annotated[float, typer.Option(help="validity")] = 8.0,
) -> None:
    """Mint a development bearer token."""
    scope = [s for s in sites.split(",") if s]
    minted = mint_token(Settings(), subject=subject or f"dev-{role.value}", role=role,
                        sites=scope, ttl=timedelta(hours=hours))  # fmt: skip
    sys.stdout.write(minted + "\n")


def _health(service: dict[str, Any]) -> str:
    if service["healthy"]:
        return "[green]ok[/]"
    return "[red]unreachable[/]" if service["error"] else "[red]down[/]"


def _number(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Health, readiness, lag, outbox backlog per service, and dead letters per topic."""
    report = asyncio.run(gather(Settings()))
    if as_json:
        emit(report)
        raise typer.Exit(0 if report["ok"] else 1)
    table = Table(title="services")
    for column in ("service", "health", "ready", "down", "lag", "outbox", "oldest", "DLQ'd"):
        table.add_column(column, justify="left" if column in {"service", "down"} else "right")
    for s in report["services"]:
        table.add_row(
            s["name"],
            _health(s),
            "[green]yes[/]" if s["ready"] else "[red]no[/]",
            ", ".join(s["down"]) or "", _number(s["lag"]), _number(s["outbox_pending"]),
            _number(s["outbox_oldest_s"], " s"), _number(s["dead_letters_written"]),
        )  # fmt: skip
    out.print(table)
    if report["dead_letters"] is None:
        out.print(f"[red]dead letters: Kafka unreachable ({report['kafka_error']})[/]")
    else:
        letters = Table(title="dead-letter topics")
        for column in ("topic", "letters", "not re-driven"):
            letters.add_column(column)
        for d in report["dead_letters"]:
            style = "yellow" if d["not_redriven"] else ""
            letters.add_row(d["topic"], str(d["letters"]), str(d["not_redriven"]), style=style)
        out.print(letters)
    raise typer.Exit(0 if report["ok"] else 1)


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str, typer.Argument(help="a dead-letter topic, e.g. kap.session.events.dlq")],
    as_json: JsonFlag = False,
) -> None:
    """Every dead letter's provenance and error (never its payload)."""
    letters = asyncio.run(dead_letters.list_letters(Settings(), topic))
    if as_json:
        emit([letter.provenance() for letter in letters])
        return
    table = Table(title=f"{len(letters)} dead letters on {topic}")
    for column in ("at", "from", "consumer group", "error", "attempts", "failed at"):
        table.add_column(column)
    for letter in letters:
        p = letter.provenance()
        table.add_row(
            f"{p['partition']}:{p['offset']}",
            f"{p['original_topic']}[{p['original_partition']}]@{p['original_offset']}",
            str(p["consumer_group"]), f"{p['error_class']}: {p['error']}",
            str(p["attempts"]), str(p["failed_at"]),
        )  # fmt: skip
    out.print(table)


@dlq_app.command("show")
def dlq_show(
    topic: Annotated[str, typer.Argument(help="a dead-letter topic")],
    at: Annotated[str, typer.Argument(help="PARTITION:OFFSET, as `kap dlq list` prints")],
    payload: Annotated[
        bool, typer.Option("--payload", help="also print the payload (may hold health data)")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """One dead letter: all its headers; the payload only with --payload."""
    partition, _, offset = at.partition(":")
    letter = asyncio.run(dead_letters.find_letter(Settings(), topic, int(partition), int(offset)))
    if letter is None:
        err.print(f"no dead letter at {topic} {at}")
        raise typer.Exit(1)
    shown: dict[str, Any] = {**letter.provenance(), "headers": letter.headers,
                             "payload_bytes": len(letter.value)}  # fmt: skip
    if payload:
        shown["payload"] = letter.value.decode(errors="replace")
    if as_json:
        emit(shown)
        return
    table = Table(show_header=False, title=f"{topic} {at}")
    for key, value in shown.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Annotated[str, typer.Argument(help="a dead-letter topic")],
    group: Annotated[
        str | None, typer.Option(help="only letters dead-lettered by this consumer group")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Republish dead letters to their original topic, each once."""
    sent = asyncio.run(dead_letters.redrive(Settings(), topic, group))
    if as_json:
        emit({"topic": topic, "group": group, "redriven": sent})
    else:
        out.print(f"re-drove {sent} dead letters from {topic}" + (f" ({group})" if group else ""))


@app.command()
def rebuild(
    url: Annotated[str | None, typer.Option(help="the journey service")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild the journey projection from the topics and switch reads over."""
    settings = Settings()
    bearer = mint_token(settings, "ops-rebuild", Role.OPS, [ALL_SITES])
    with httpx.Client(base_url=url or service_url("journey"), timeout=30,
                      headers={"Authorization": f"Bearer {bearer}"}) as http:  # fmt: skip
        before = http.get("/admin/projection", params={"content_hash": True}).json()
        started = http.post("/admin/rebuild")
        if started.status_code >= 400:
            err.print(f"rebuild refused: {started.status_code} {started.text}")
            raise typer.Exit(1)
        view = _follow(http, quiet=as_json)
        after = http.get("/admin/projection", params={"content_hash": True}).json()
    result = {
        "state": view["state"], "replayed": view["replayed"], "skipped": view["skipped"],
        "seconds": view["seconds"], "events_per_second": view["events_per_second"],
        "generation_before": before["active"], "generation_after": after["active"],
        "journeys": after["patients"], "content_hash": after["content_hash"],
        "content_hash_changed": before["content_hash"] != after["content_hash"],
        "error": view.get("error"),
    }  # fmt: skip
    if as_json:
        emit(result)
    elif view["state"] == "failed":
        err.print(f"[red]rebuild failed: {view['error']}[/]")
    else:
        verdict = "changed" if result["content_hash_changed"] else "unchanged"
        out.print(
            f"replayed {view['replayed']} events ({view['skipped']} skipped as dead letters) in "
            f"{view['seconds']:.1f}s: {view['events_per_second']:,.0f} events/s\n"
            f"active generation {before['active']} -> {after['active']}; {after['patients']} "
            f"journeys; content hash {verdict} ({str(after['content_hash'])[:16]})"
        )
    raise typer.Exit(1 if view["state"] == "failed" else 0)


def _follow(http: httpx.Client, quiet: bool, interval: float = 0.2) -> dict[str, Any]:
    """Poll the rebuild's progress until it is done or failed, drawing a bar."""
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, disable=quiet) as progress:
        task = progress.add_task("rebuild", total=None, rate="")
        started = time.monotonic()
        while True:
            view: dict[str, Any] = http.get("/admin/rebuild").json()
            done = view["replayed"] + view["skipped"]
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, total=view["total"] or None, completed=done,
                            rate=f"{rate:,.0f} events/s")  # fmt: skip
            if view["state"] in ("done", "failed"):
                return view
            time.sleep(interval)


BENCHES = {
    "throughput": "bench.throughput",
    "contention": "bench.contention",
    "race": "bench.race_window",
}


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option(help="the throughput bench only, within 3 minutes")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="throughput, contention and/or race")
    ] = None,
) -> None:
    """Throughput and latency against the raw ceilings, write contention, the race window."""
    for name in only or (["throughput"] if quick else list(BENCHES)):
        if name not in BENCHES:
            raise typer.BadParameter(f"{name}: choose from {', '.join(BENCHES)}")
        args = [sys.executable, "-m", BENCHES[name], *(["--quick"] if quick else [])]
        err.rule(f"bench {name}")
        if subprocess.run(args if name == "throughput" else args[:3], check=False).returncode:
            raise typer.Exit(1)


if __name__ == "__main__":
    app()
