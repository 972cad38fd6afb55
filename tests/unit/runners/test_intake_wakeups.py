"""When a runner that fed jobs into the queue wakes the other runners: only when some may be
left for them, so that a runner with free slots does not set every runner racing for a job
it takes itself."""

from hypothesis import given
from hypothesis import strategies as st

from runners.intake import tells_others

slots = st.integers(min_value=-2, max_value=50)


@given(slots)
def test_a_runner_that_fed_nothing_wakes_nobody(free: int) -> None:
    assert not tells_others(fed=False, free=free, taken=max(free, 0))


@given(st.integers(min_value=1, max_value=50), st.data())
def test_a_runner_that_took_fewer_than_its_free_slots_wakes_nobody(
    free: int, data: st.DataObject
) -> None:
    taken = data.draw(st.integers(min_value=0, max_value=free - 1))
    assert not tells_others(fed=True, free=free, taken=taken)


@given(st.integers(min_value=1, max_value=50))
def test_a_runner_that_filled_every_free_slot_wakes_the_others(free: int) -> None:
    assert tells_others(fed=True, free=free, taken=free)


@given(st.integers(min_value=-2, max_value=0))
def test_a_runner_without_a_free_slot_wakes_the_others(free: int) -> None:
    assert tells_others(fed=True, free=free, taken=0)
