"""Pure presentation helpers: the PHQ-9 chart's geometry and the treatment-day clocks.

The console decides nothing clinical: the lines and clocks only show the services' own
defaults (coaching: response is a 50 % fall from baseline, remission a total under 5;
session: BP recheck at ~40 min, discharge floor 120 min for esketamine). The session service
still judges every discharge and says why it refuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PHQ9_MAX = 27
REMISSION_BELOW = 5
RESPONSE_FRACTION = 0.5
BP_RECHECK_MIN = 40
BP_RECHECK_EARLY_MIN = 10
BP_RECHECK_GRACE_MIN = 15
FLOOR_MIN = {"esketamine_trd": 120}
IV_AFTER_INFUSION_MIN = 60
DEFAULT_FLOOR_MIN = 120


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def local(value: str | None, zone: ZoneInfo) -> str:
    at = when(value)
    return at.astimezone(zone).strftime("%a %d %b %H:%M") if at else "—"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[dict[str, Any]]
    polyline: str
    response_y: float | None
    remission_y: float
    baseline: int | None


def phq9_chart(trajectory: list[dict[str, Any]], width: int = 560, height: int = 220) -> Chart:
    """Totals over time, first (the screening baseline) on the left; response and remission
    lines relative to that baseline."""
    pad = 32
    ordered = sorted(trajectory, key=lambda p: str(p["at"]))

    def y(total: float) -> float:
        return round(height - pad - (height - 2 * pad) * total / PHQ9_MAX, 1)

    step = (width - 2 * pad) / max(len(ordered) - 1, 1)
    points = [
        {"x": round(pad + i * step, 1), "y": y(p["total"]), "total": p["total"],
         "at": str(p["at"])[:10], "source": p.get("source", "")}
        for i, p in enumerate(ordered)
    ]  # fmt: skip
    baseline = ordered[0]["total"] if ordered else None
    return Chart(
        width=width,
        height=height,
        points=points,
        polyline=" ".join(f"{p['x']},{p['y']}" for p in points),
        response_y=y(baseline * RESPONSE_FRACTION) if baseline else None,
        remission_y=y(REMISSION_BELOW),
        baseline=baseline,
    )


def minutes_between(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def clocks(session: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Minutes since dose, the ~40-minute BP (due / overdue / charted) and the countdown to the
    protocol's monitoring floor, as the nurse sees them."""
    dose = session.get("dose")
    if session.get("discharge"):
        return {"state": "discharged", "text": "Discharged."}
    if not dose:
        return {"state": "before_dose", "text": "Not dosed yet."}
    dosed = when(dose["administered_at"])
    assert dosed is not None
    since = minutes_between(dosed, now)
    post = [when(r["observed_at"]) for r in session.get("vitals", []) if not r.get("pre_dose")]
    recheck_from = BP_RECHECK_MIN - BP_RECHECK_EARLY_MIN
    charted = any(at and minutes_between(dosed, at) >= recheck_from for at in post)
    if charted:
        bp = ("done", "40-minute BP charted.")
    elif since < recheck_from:
        bp = ("waiting", f"40-minute BP due in {BP_RECHECK_MIN - since} min.")
    elif since <= BP_RECHECK_MIN + BP_RECHECK_GRACE_MIN:
        bp = ("due", "40-minute BP is due now.")
    else:
        bp = ("overdue", f"40-minute BP overdue by {since - BP_RECHECK_MIN} min.")
    protocol = session.get("protocol", "")
    if protocol.startswith("iv"):
        floor = (dose.get("infusion_minutes") or 40) + IV_AFTER_INFUSION_MIN
    else:
        floor = FLOOR_MIN.get(protocol, DEFAULT_FLOOR_MIN)
    left = floor - since
    gate = (f"Monitoring floor met ({floor} min)." if left <= 0
            else f"{left} min until the {floor}-minute monitoring floor.")  # fmt: skip
    return {"state": "monitoring", "since": since, "floor": floor, "left": max(left, 0),
            "bp": bp[0], "bp_text": bp[1], "gate_text": gate,
            "text": f"{since} min since dose."}  # fmt: skip
