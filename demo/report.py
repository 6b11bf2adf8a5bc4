"""Readable tables of journeys and site dashboards for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [
        [str(h) for h in headers],
        *[[("-" if c is None else str(c)) for c in r] for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def journeys(by_label: dict[str, dict[str, Any]]) -> str:
    rows = []
    for label, j in by_label.items():
        nxt = j["next_appointment"]
        rows.append([
            label, j["patient_id"], j["site_id"], j["phase"], j["protocol"],
            f"{j['doses_given']}/{j['doses_planned'] or '-'}",
            f"{nxt['kind']} {nxt['starts_at'][:16]}" if nxt else None,
            len(j["open_risk_flags"]), ",".join(t["kind"] for t in j["open_tasks"]) or None,
            j["coach_id"], "→".join(str(p["total"]) for p in j["phq9"]) or None,
        ])  # fmt: skip
    headers = ["patient", "id", "site", "phase", "protocol", "doses", "next appointment",
               "flags", "open tasks", "coach", "PHQ-9"]  # fmt: skip
    return table(headers, rows)


def dashboard(d: dict[str, Any]) -> str:
    census = ", ".join(f"{phase} {n}" for phase, n in d["census"].items() if n)
    keys = ("doses_held", "no_shows", "open_tasks", "overdue_tasks", "monitoring_forms_due",
            "open_risk_flags")  # fmt: skip
    counts = table(list(keys), [[d[k] for k in keys]])
    return f"{d['site_id']}: {d['patients']} patients ({census})\n{counts}"
