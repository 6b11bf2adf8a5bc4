"""`kap audit`: the privacy officer's view of the audit trail (intake's `GET /audit`)."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.cli.status import service_url
from services.runtime.auth import ALL_SITES, Role, mint_token
from services.runtime.settings import Settings

COLUMNS = ("at", "service", "subject", "role", "patient_id", "resource", "action", "outcome")


def bearer() -> str:
    """`KAP_TOKEN` (a privacy officer's token from the identity provider), else a development
    token minted with the local settings."""
    token = os.environ.get("KAP_TOKEN") or mint_token(
        Settings(), "dev-privacy_officer", Role.PRIVACY_OFFICER, [ALL_SITES], timedelta(minutes=5)
    )
    return f"Bearer {token}"


def fetch(
    params: dict[str, Any],
    every_page: bool,
    url: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Any]:
    """Entries matching `params`; with `every_page`, follow `next_offset` to the end."""
    entries: list[Any] = []
    query = {k: v for k, v in params.items() if v is not None}
    base = url or service_url("intake")
    with httpx.Client(base_url=base, timeout=10, transport=transport) as client:
        while True:
            answer = client.get("/audit", params=query, headers={"Authorization": bearer()})
            answer.raise_for_status()
            page = answer.json()
            entries += page["entries"]
            if not every_page or page["next_offset"] is None:
                return entries
            query["offset"] = page["next_offset"]


def audit(
    patient: Annotated[str | None, typer.Option(help="one patient id")] = None,
    subject: Annotated[str | None, typer.Option(help="one caller (token subject)")] = None,
    since: Annotated[str | None, typer.Option("--from", help="ISO-8601 with offset")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO-8601 with offset")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="entries per page")] = 100,
    every_page: Annotated[bool, typer.Option("--all", help="follow every page")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Who read or changed identity or a clinical record, when, and whether it was allowed."""
    params = {"patient_id": patient, "subject": subject, "from": since, "to": until,
              "limit": limit}  # fmt: skip
    try:
        entries = fetch(params, every_page)
    except httpx.HTTPStatusError as error:
        Console(stderr=True).print(f"intake answered {error.response.status_code}")
        raise typer.Exit(1) from error
    if as_json:
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    table = Table(title=f"{len(entries)} audit entries")
    for column in (*COLUMNS, "route"):
        table.add_column(column)
    for entry in entries:
        route = f"{entry['method']} {entry['route']}"
        table.add_row(*(str(entry.get(c) or "") for c in COLUMNS), route)
    Console().print(table)
