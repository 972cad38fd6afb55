"""The last triggers of a partition, dropped by faust with nothing after them to reveal it,
are read again once they sat unanswered while the agent was idle (projections/faust_tail.py),
checked on faust's own consumer, which needs no broker until it starts."""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from projections import faust_tail
from projections.faust_tail import tail_watch, unanswered_from
from tests.unit.triggers.faust_consumer import TRIGGERS

PARTITION = TP(TRIGGERS, 5)
offsets = st.integers(min_value=0, max_value=10**9)


class Sought(list[tuple[TP, int]]):
    """The seeks asked of the consumer, recorded instead of reaching a broker."""

    async def __call__(self, tp: TP, offset: int) -> None:
        self.append((tp, offset))


def _quiet(consumer: Any, *, committed: int | None, highwater: int) -> Sought:
    """The consumer of an idle agent: ``PARTITION`` active, committed up to ``committed``,
    the broker's last fetch answer showing ``highwater``."""

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return dict.fromkeys(partitions, 0)

    consumer._active_partitions = {PARTITION}
    consumer._committed_offset[PARTITION] = committed
    consumer.flow_active = True
    consumer.highwater = lambda tp: highwater
    consumer.earliest_offsets = earliest_offsets
    consumer.seek = Sought()
    return consumer.seek  # type: ignore[no-any-return]


def _looks(consumer: Any, times: int) -> None:
    watch = tail_watch(TRIGGERS)
    for _ in range(times):
        consumer.app.loop.run_until_complete(watch(consumer.app))


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_tail, "STALLED_AFTER_S", 0.0)


@given(highwater=offsets, committed=st.none() | offsets)
def test_nothing_is_read_again_while_something_of_the_partition_is_pending(
    highwater: int, committed: int | None
) -> None:
    assert unanswered_from(highwater, committed, pending=True) is None


@given(highwater=offsets, committed=st.none() | offsets)
def test_records_past_the_committed_offset_are_read_again_from_it(
    highwater: int, committed: int | None
) -> None:
    start = committed or 0
    expected = start if highwater > start else None
    assert unanswered_from(highwater, committed, pending=False) == expected


def test_a_partition_not_fetched_yet_is_not_judged() -> None:
    assert unanswered_from(None, 3, pending=False) is None


@pytest.mark.usefixtures("no_wait")
def test_the_last_trigger_of_a_partition_left_unanswered_is_read_again(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    _looks(consumer, 2)
    assert sought == [(PARTITION, 2)]


@pytest.mark.usefixtures("no_wait")
def test_a_partition_never_committed_is_read_again_from_its_start(consumer: Any) -> None:
    sought = _quiet(consumer, committed=None, highwater=1)
    _looks(consumer, 2)
    assert sought == [(PARTITION, 0)]


@pytest.mark.usefixtures("no_wait")
def test_one_look_is_not_enough_to_call_a_partition_stalled(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    _looks(consumer, 1)
    assert sought == []


def test_records_just_appended_are_given_time_to_be_fetched(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    _looks(consumer, 3)  # back to back: far less than STALLED_AFTER_S apart
    assert sought == []


@pytest.mark.usefixtures("no_wait")
def test_a_partition_answered_up_to_its_end_is_left_alone(consumer: Any) -> None:
    sought = _quiet(consumer, committed=3, highwater=3)
    _looks(consumer, 2)
    assert sought == []


@pytest.mark.usefixtures("no_wait")
def test_answers_waiting_for_their_commit_are_not_a_stall(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    consumer._acked[PARTITION] = [2]
    _looks(consumer, 2)
    assert sought == []


@pytest.mark.usefixtures("no_wait")
def test_nothing_is_judged_while_the_agent_holds_a_record(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=9)
    held = consumer._to_message(PARTITION, _Record(offset=2))
    consumer.track_message(held)
    _looks(consumer, 2)
    assert sought == []


@pytest.mark.usefixtures("no_wait")
def test_nothing_is_judged_while_faust_rebalances(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    consumer.flow_active = False
    _looks(consumer, 2)
    assert sought == []


@pytest.mark.usefixtures("no_wait")
def test_a_paused_partition_is_not_judged(consumer: Any) -> None:
    sought = _quiet(consumer, committed=2, highwater=3)
    consumer._active_partitions = set()  # its table still recovering
    _looks(consumer, 2)
    assert sought == []


class _Record:
    """The fields of an aiokafka ConsumerRecord that faust's ``_to_message`` reads."""

    def __init__(self, *, offset: int) -> None:
        self.topic = TRIGGERS
        self.partition = PARTITION.partition
        self.offset = offset
        self.timestamp = 0
        self.timestamp_type = 0
        self.headers: list[tuple[str, bytes]] = []
        self.key = b"k"
        self.value = b"v"
        self.checksum = None
        self.serialized_key_size = 1
        self.serialized_value_size = 1
