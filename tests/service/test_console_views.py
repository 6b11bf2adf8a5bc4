"""The console's presentation helpers: clocks, the PHQ-9 chart, refusals in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.views import clocks, phq9_chart
from services.console.words import plain_words

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def day(minutes_ago: int, readings_after: tuple[int, ...] = ()) -> dict[str, object]:
    dosed = NOW - timedelta(minutes=minutes_ago)
    return {"protocol": "esketamine_trd", "discharge": None,
            "dose": {"administered_at": dosed.isoformat()},
            "vitals": [{"observed_at": (dosed + timedelta(minutes=m)).isoformat(),
                        "pre_dose": False} for m in readings_after]}  # fmt: skip


def test_the_clock_counts_down_to_the_120_minute_floor() -> None:
    shown = clocks(day(119, (40,)), NOW)
    assert (shown["since"], shown["left"]) == (119, 1)
    assert shown["bp"] == "done"
    assert clocks(day(120, (40,)), NOW)["gate_text"] == "Monitoring floor met (120 min)."


def test_the_40_minute_bp_goes_from_waiting_to_due_to_overdue() -> None:
    assert clocks(day(20), NOW)["bp"] == "waiting"
    assert clocks(day(41), NOW)["bp"] == "due"
    assert clocks(day(56), NOW)["bp_text"] == "40-minute BP overdue by 16 min."


def test_the_chart_draws_response_at_half_the_baseline_and_remission_under_5() -> None:
    chart = phq9_chart([{"at": "2026-03-01", "total": 20, "source": "screening"},
                        {"at": "2026-03-08", "total": 9, "source": "follow_up"}])  # fmt: skip
    assert [p["total"] for p in chart.points] == [20, 9]
    assert chart.baseline == 20
    assert chart.response_y is not None
    assert chart.remission_y > chart.response_y, "remission (5) is drawn below response (10)"


def test_refusals_read_as_plain_words() -> None:
    assert plain_words(409, "DischargeConditionsUnmet", "").startswith("Discharge is not allowed")
    assert plain_words(409, "DoseBeforeMinimumGap", "") == "Dose before minimum gap."
    assert plain_words(404, "", "") == "Not found, or not within your sites."
