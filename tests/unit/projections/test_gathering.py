"""The decider's batch gathering (projections.gathering): it waits for more records only when
its transactions are contended and the arrival rate says more are coming, never when idle,
and never beyond its batch size."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.gathering import (
    CREEP,
    ArrivalRate,
    TransactionPace,
    gathering_window,
    more_to_gather,
)

rates = st.floats(min_value=0, max_value=1e6, allow_nan=False)
windows = st.floats(min_value=0, max_value=1, allow_nan=False)


@given(rate=rates, window=windows, have=st.integers(1, 500))
def test_a_batch_waits_only_when_at_least_one_more_record_is_expected(
    rate: float, window: float, have: int
) -> None:
    more = more_to_gather(rate, window, have, 500)
    if rate * window < 1:
        assert more == 0
    else:
        assert more == min(int(rate * window), 500 - have)


@given(rate=rates, window=windows, have=st.integers(0, 600), most=st.integers(1, 500))
def test_a_batch_never_waits_for_more_than_its_size_allows(
    rate: float, window: float, have: int, most: int
) -> None:
    assert 0 <= more_to_gather(rate, window, have, most) <= max(0, most - have)


@given(low=rates, high=rates, window=windows)
def test_a_faster_stream_never_waits_for_fewer(low: float, high: float, window: float) -> None:
    low, high = sorted((low, high))
    assert more_to_gather(low, window, 1, 500) <= more_to_gather(high, window, 1, 500)


@settings(max_examples=30)
@given(rate=st.integers(200, 2000), half_life=st.floats(0.25, 1))
def test_the_estimate_of_a_steady_stream_settles_on_its_rate(rate: int, half_life: float) -> None:
    # (read just after an arrival, the estimate runs high by about ln 2 / 2 of a record per
    # half-life: within 1 % once 50 or more records arrive in one)
    estimate = ArrivalRate(half_life_s=half_life)
    for k in range(1, int(10 * half_life * rate)):  # one record every 1/rate s, 10 half-lives
        estimate = estimate.seen(1, k / rate)
    assert math.isclose(estimate.per_s(estimate.at), rate, rel_tol=0.01)


@given(count=st.integers(1, 10_000), half_life=st.floats(0.1, 5))
def test_the_estimate_forgets_a_burst_after_a_quiet_spell(count: int, half_life: float) -> None:
    estimate = ArrivalRate(half_life_s=half_life).seen(count, 100.0)
    quiet = 100.0 + half_life * 40
    assert more_to_gather(estimate.per_s(quiet), 0.010, 1, 500) == 0


@given(
    counts=st.lists(st.integers(0, 100), min_size=1, max_size=20),
    now=st.floats(0, 1e6, allow_nan=False),
)
def test_records_seen_at_one_instant_count_the_same_in_one_look_or_several(
    counts: list[int], now: float
) -> None:
    one = ArrivalRate().seen(sum(counts), now)
    several = ArrivalRate()
    for count in counts:
        several = several.seen(count, now)
    assert math.isclose(one.per_s(now), several.per_s(now), rel_tol=1e-9)


def test_an_idle_decider_never_waits() -> None:
    assert more_to_gather(ArrivalRate().per_s(0.0), 0.010, 1, 500) == 0


durations = st.floats(min_value=1e-4, max_value=1.0, allow_nan=False)


@given(steady=durations, count=st.integers(1, 200))
def test_transactions_that_all_take_the_same_time_are_not_contended(
    steady: float, count: int
) -> None:
    pace = TransactionPace()
    for _ in range(count):
        pace = pace.after(steady)
    assert not pace.contended()
    assert gathering_window(pace, 0.010) == 0.0


@given(quick=durations, slowdown=st.floats(min_value=2.5, max_value=100))
def test_transactions_slowed_well_past_the_quickest_are_contended(
    quick: float, slowdown: float
) -> None:
    pace = TransactionPace().after(quick)
    for _ in range(20):  # the moving average catches up with the slow ones
        pace = pace.after(quick * slowdown)
    assert pace.contended()
    assert gathering_window(pace, 0.010) == 0.010


@given(quick=durations)
def test_a_quicker_past_ages_out(quick: float) -> None:
    pace = TransactionPace().after(quick)
    for _ in range(int(math.log(3) / math.log(CREEP)) + 1):  # the quickest creeps past 3x
        pace = pace.after(quick * 3)
    assert not pace.contended()


def test_a_decider_that_never_committed_is_not_contended() -> None:
    assert gathering_window(TransactionPace(), 0.010) == 0.0
