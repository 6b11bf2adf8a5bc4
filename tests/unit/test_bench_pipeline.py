"""The pipeline bench's arithmetic: which rates it tries, the lag trend, percentiles."""

from __future__ import annotations

import pytest

from bench.pipeline import percentile, plan, trend

RATES = [100, 150, 200, 300, 400, 80, 60, 40]


def tried(flat_up_to: int) -> list[int]:
    done: list[dict[str, object]] = []
    for rate in plan(RATES, done):
        done.append({"rate": rate, "lag_flat": rate <= flat_up_to})
    return [int(str(d["rate"])) for d in done]


@pytest.mark.parametrize(
    ("flat_up_to", "expected"),
    [
        (500, [100, 150, 200, 300, 400]),
        (250, [100, 150, 200, 300]),
        (100, [100, 150]),
        (80, [100, 80]),
        (70, [100, 80, 60]),
        (10, [100, 80, 60, 40]),
    ],
)
def test_the_search_stops_at_the_first_step_past_the_highest_flat_rate(
    flat_up_to: int, expected: list[int]
) -> None:
    assert tried(flat_up_to) == expected


def test_a_lag_that_grows_has_its_growth_as_trend_and_a_steady_one_none() -> None:
    growing = [(float(t), 5 * t + (3 if t % 2 else 0)) for t in range(20)]
    steady = [(float(t), 12 + (3 if t % 2 else -3)) for t in range(20)]
    assert trend(growing) == pytest.approx(5.0, abs=0.2)
    assert trend(steady) == pytest.approx(0.0, abs=0.2)


def test_percentiles_are_values_that_were_measured() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) in (50.0, 51.0)
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) is None
