"""The runner loop's pause: short while there is work, backing off while idle."""

from hypothesis import given
from hypothesis import strategies as st

from runners.pace import BUSY_PAUSE_S, IDLE_PAUSE_S, next_pause

pauses = st.floats(min_value=0, max_value=10, allow_nan=False)


@given(pauses)
def test_a_turn_that_did_something_is_followed_by_the_shortest_pause(previous: float) -> None:
    assert next_pause(previous, worked=True) == BUSY_PAUSE_S


@given(pauses)
def test_an_idle_pause_stays_between_the_busy_and_the_idle_bound(previous: float) -> None:
    assert BUSY_PAUSE_S <= next_pause(previous, worked=False) <= IDLE_PAUSE_S


@given(st.floats(min_value=BUSY_PAUSE_S, max_value=IDLE_PAUSE_S / 2))
def test_each_idle_turn_doubles_the_pause_below_the_bound(previous: float) -> None:
    assert next_pause(previous, worked=False) == previous * 2


def test_an_idle_runner_reaches_the_longest_pause_within_a_few_turns() -> None:
    pause = BUSY_PAUSE_S
    for _ in range(4):
        pause = next_pause(pause, worked=False)
    assert pause == IDLE_PAUSE_S
