"""Which dedup keys a sweep forgets: those of its partition whose row is over 10 minutes old,
found from the order keys were remembered in, not by reading the whole table."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.dedup import FORGET_AFTER_MS, DedupEntry, forgettable
from projections.dedup_forgetting import ForgetOrder, entry_of

PARTITIONS = 3
KEYS = [f"k{i}" for i in range(12)]


def partition_of(key: str) -> int:
    return int(key[1:]) % PARTITIONS


class CountingRows(dict[str, dict[str, Any]]):
    """A table that counts how many rows a sweep read."""

    read = 0

    def items(self) -> Any:
        for pair in super().items():
            self.read += 1
            yield pair


def row(at_ms: int) -> dict[str, Any]:
    return {"run_id": f"run-{at_ms}", "requested_at_ms": at_ms}


def remember(rows: dict[str, dict[str, Any]], order: ForgetOrder, key: str, at_ms: int) -> None:
    rows[key] = row(at_ms)
    order.remembered(partition_of(key), key, entry_of(rows[key]))


def full_scan(rows: dict[str, dict[str, Any]], partition: int, now_ms: int) -> set[str]:
    return {
        key
        for key, r in rows.items()
        if partition_of(key) == partition and forgettable(entry_of(r), now_ms)
    }


# (key, seconds after the previous remember), in order: event time never goes back
remembers = st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 400)), max_size=60)


# (key, the time of its request), in the order answered: stragglers come late
answered = st.lists(
    st.tuples(st.sampled_from(KEYS), st.integers(0, 3 * FORGET_AFTER_MS)), max_size=60
)


@given(answered, st.integers(0, PARTITIONS - 1), st.integers(1, 100), st.integers(0, 4))
def test_a_sweep_forgets_exactly_the_old_keys_of_its_partition(
    steps: list[tuple[str, int]], partition: int, rescan_every: int, windows: int
) -> None:
    rows: dict[str, dict[str, Any]] = {}
    order = ForgetOrder(partition_of, rescan_every=rescan_every)
    order.sweep(rows, partition, 0)  # the first sweep scans: nothing held yet
    for key, at_ms in steps:
        remember(rows, order, key, at_ms)
    now = windows * FORGET_AFTER_MS
    assert set(order.sweep(rows, partition, now)) == full_scan(rows, partition, now)


@given(remembers, st.sets(st.sampled_from(KEYS)), st.integers(0, 2 * FORGET_AFTER_MS))
def test_a_key_is_never_forgotten_while_its_row_is_recent(
    steps: list[tuple[str, int]], rewritten: set[str], after_ms: int
) -> None:
    rows: dict[str, dict[str, Any]] = {}
    order = ForgetOrder(partition_of)
    for partition in range(PARTITIONS):
        order.sweep(rows, partition, 0)
    now = 0
    for key, seconds in steps:
        now += seconds * 1000
        remember(rows, order, key, now)
    for key in rewritten & rows.keys():
        rows[key] = row(now)  # written again without a word to the order
    sweep_at = now + after_ms
    for partition in range(PARTITIONS):
        assert set(order.sweep(rows, partition, sweep_at)) <= full_scan(rows, partition, sweep_at)


def test_keys_it_never_saw_remembered_are_found_by_the_first_sweep() -> None:
    restored = {key: row(0) for key in KEYS}  # from the changelog, at start
    order = ForgetOrder(partition_of)
    assert set(order.sweep(restored, 1, FORGET_AFTER_MS + 1)) == full_scan(restored, 1, 10**9)


def test_a_sweep_between_rescans_reads_no_row_of_the_table() -> None:
    rows = CountingRows()
    order = ForgetOrder(partition_of, rescan_every=100)
    order.sweep(rows, 0, 0)
    for i in range(3_000):
        rows[f"k{i * PARTITIONS}"] = row(i)
        order.remembered(0, f"k{i * PARTITIONS}", DedupEntry(f"run-{i}", i))
    rows.read = 0
    forgotten = order.sweep(rows, 0, FORGET_AFTER_MS + 10)
    assert (len(forgotten), rows.read) == (10, 0)


def test_a_key_taken_back_is_not_forgotten_twice() -> None:
    rows: dict[str, dict[str, Any]] = {}
    order = ForgetOrder(partition_of)
    order.sweep(rows, 0, 0)
    remember(rows, order, "k0", 0)
    del rows["k0"]  # a rejected request's key, taken back
    assert order.sweep(rows, 0, FORGET_AFTER_MS + 1) == []
