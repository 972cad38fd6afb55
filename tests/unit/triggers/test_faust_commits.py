"""No commit of the trigger processor passes a trigger its agent did not answer
(projections/faust_commits.py), checked on faust's own consumer, which needs no broker
until it starts.

The first test fails on a faust that fixed the bug: re-check the guard before moving the pin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from projections import faust_commits
from projections.faust_commits import commit_guard
from tests.unit.triggers.faust_consumer import TRIGGERS

PARTITION = TP(TRIGGERS, 2)


class Sought(list[tuple[TP, int]]):
    """The seeks asked of the consumer, recorded instead of reaching a broker."""

    async def __call__(self, tp: TP, offset: int) -> None:
        self.append((tp, offset))


def _kept_from(earliest: int) -> Any:
    """The consumer's ``earliest_offsets``, as a log whose oldest record is ``earliest``."""

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {tp: earliest for tp in partitions}

    return earliest_offsets


def _guarded(consumer: Any, *, earliest: int = 0) -> Sought:
    consumer.app.loop.run_until_complete(commit_guard(TRIGGERS)(consumer.app))
    consumer.earliest_offsets = _kept_from(earliest)
    consumer.seek = Sought()
    return consumer.seek  # type: ignore[no-any-return]


def _answered(consumer: Any, tp: TP, committed: int, offsets: Iterable[int]) -> None:
    """The state faust's consumer keeps: the committed offset and the answered records."""
    consumer._committed_offset[tp] = committed
    consumer._acked[tp] = []
    consumer._acked_index[tp] = set()
    for offset in offsets:
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)


def _commit_offset(consumer: Any, tp: TP) -> int | None:
    """What faust would commit for ``tp`` now, its scheduled seeks run."""

    async def ask() -> int | None:
        offset: int | None = consumer._new_offset(tp)
        for _ in range(3):  # the seek-back's own steps
            await asyncio.sleep(0)
        return offset

    return consumer.app.loop.run_until_complete(ask())  # type: ignore[no-any-return]


def test_faust_alone_commits_past_the_record_at_its_committed_offset(consumer: Any) -> None:
    _answered(consumer, PARTITION, committed=3, offsets=[4, 5])
    assert consumer._new_offset(PARTITION) == 6  # offset 3 never answered, committed past


def test_a_trigger_never_answered_holds_the_commit_and_is_read_again(consumer: Any) -> None:
    sought = _guarded(consumer)
    _answered(consumer, PARTITION, committed=3, offsets=[4, 5])
    assert _commit_offset(consumer, PARTITION) is None
    assert sought == [(PARTITION, 3)]


def test_answers_from_the_committed_offset_on_are_committed_as_faust_does(consumer: Any) -> None:
    sought = _guarded(consumer)
    _answered(consumer, PARTITION, committed=3, offsets=[3, 4, 5])
    assert _commit_offset(consumer, PARTITION) == 6
    assert sought == []


def test_triggers_skipped_between_two_read_are_not_committed_as_answered(consumer: Any) -> None:
    sought = _guarded(consumer)
    _answered(consumer, PARTITION, committed=3, offsets=[3, 4, 7])
    consumer.app.loop.run_until_complete(consumer._add_gap(PARTITION, 5, 7))  # faust read 4, then 7
    assert _commit_offset(consumer, PARTITION) == 5
    consumer._committed_offset[PARTITION] = 5
    assert _commit_offset(consumer, PARTITION) is None
    assert sought == [(PARTITION, 5)]


def test_a_seek_back_whose_records_were_dropped_again_is_asked_again(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faust_commits, "SEEK_AGAIN_AFTER_S", 0.0)
    sought = _guarded(consumer)
    _answered(consumer, PARTITION, committed=3, offsets=[4])
    _commit_offset(consumer, PARTITION)
    _commit_offset(consumer, PARTITION)
    assert sought == [(PARTITION, 3), (PARTITION, 3)]


def test_a_missing_trigger_is_not_sought_again_at_every_commit(consumer: Any) -> None:
    sought = _guarded(consumer)
    _answered(consumer, PARTITION, committed=3, offsets=[4])
    _commit_offset(consumer, PARTITION)
    _commit_offset(consumer, PARTITION)
    assert sought == [(PARTITION, 3)]


def test_a_missing_trigger_retention_deleted_is_committed_past_not_sought(
    consumer: Any,
) -> None:
    sought = _guarded(consumer, earliest=10)
    _answered(consumer, PARTITION, committed=3, offsets=[10, 11])
    assert _commit_offset(consumer, PARTITION) is None
    assert sought == []
    assert _commit_offset(consumer, PARTITION) == 12


def test_other_topics_keep_fausts_own_rules(consumer: Any) -> None:
    _guarded(consumer)
    changelog = TP("t-faust-dedup-changelog", 2)
    _answered(consumer, changelog, committed=3, offsets=[3, 7])
    # offsets 4-6 are transaction markers there, for faust
    consumer.app.loop.run_until_complete(consumer._add_gap(changelog, 4, 7))
    assert _commit_offset(consumer, changelog) == 8


def test_no_commit_passes_a_trigger_never_answered(consumer: Any) -> None:
    _guarded(consumer)

    @given(
        committed=st.integers(min_value=0, max_value=40),
        offsets=st.sets(st.integers(min_value=0, max_value=60), min_size=1, max_size=30),
    )
    def check(committed: int, offsets: set[int]) -> None:
        answered = sorted(o for o in offsets if o >= committed)  # faust acks none below it
        _answered(consumer, PARTITION, committed, answered)
        offset = _commit_offset(consumer, PARTITION)
        if offset is not None:
            assert set(range(committed, offset)) <= set(answered)

    check()
