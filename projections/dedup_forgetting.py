"""Which keys of the dedup table a sweep forgets, found without reading the whole table.

The trigger processor's table keeps each dedup key for 10 minutes of event time, then a sweep
of the key's partition deletes it (a tombstone on that changelog partition). A sweep used to
read every key the worker held and hash each with murmur2 (~11 µs in Python) to keep its
partition's: O(keys held) every 500 answers of a partition. The table holds about 600 keys
per trigger/s, so at R triggers/s the sweeps cost about R squared times 14 µs of CPU a
second: 0.55 s/s at 200/s, more than a core at 400/s.

:class:`ForgetOrder` keeps, per partition, a heap of the keys this worker remembered by the
time of their request, so a sweep pops keys while the oldest is forgettable: O(log n) a key
forgotten. Keys it never saw remembered (restored from the changelog at start, or written by
another worker before a rebalance gave it the partition) are found by a full scan of the
partition on its first sweep and every ``rescan_every`` sweeps after (each key hashed once:
a rescan reads the table, ~0.3 µs a key). A key is only ever returned when the table's own
row for it is forgettable.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from projections.dedup import DedupEntry, forgettable

__all__ = ["RESCAN_EVERY", "ForgetOrder", "entry_of"]

RESCAN_EVERY = 100  # sweeps of a partition between two full scans of it


def _old(requested_at_ms: int, now_ms: int) -> bool:
    return forgettable(DedupEntry(run_id="", requested_at_ms=requested_at_ms), now_ms)


def entry_of(row: Mapping[str, Any]) -> DedupEntry:
    """The table's row for a key, as the dedup rules see it."""
    return DedupEntry(str(row["run_id"]), int(row["requested_at_ms"]))


class ForgetOrder:
    """The dedup keys of one worker, per partition, oldest request first."""

    def __init__(
        self, partition_of: Callable[[str], int], *, rescan_every: int = RESCAN_EVERY
    ) -> None:
        self._partition_of = partition_of
        self._rescan_every = rescan_every
        self._heaps: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
        self._sweeps: Counter[int] = Counter()
        # each held key's partition: a rescan hashes a key once, not at every rescan
        self._partitions: dict[str, int] = {}

    def remembered(self, partition: int, key: str, entry: DedupEntry) -> None:
        """``key`` (of ``partition``) now holds ``entry``."""
        heapq.heappush(self._heaps[partition], (entry.requested_at_ms, key))
        self._partitions[key] = partition

    def sweep(
        self, rows: Mapping[str, Mapping[str, Any]], partition: int, now_ms: int
    ) -> list[str]:
        """The keys of ``partition`` whose row in ``rows`` is forgettable at ``now_ms``."""
        if self._sweeps[partition] % self._rescan_every == 0:
            self._rescan(rows, partition)
        self._sweeps[partition] += 1
        heap = self._heaps[partition]
        forget: dict[str, None] = {}
        while heap and _old(heap[0][0], now_ms):
            at, key = heapq.heappop(heap)
            row = rows.get(key)
            # none: forgotten already, or a rejected request's key taken back; a later time:
            # remembered again since, and that entry is still on the heap
            if row is not None and int(row["requested_at_ms"]) == at:
                forget[key] = None
                self._partitions.pop(key, None)
        return list(forget)

    def _rescan(self, rows: Mapping[str, Mapping[str, Any]], partition: int) -> None:
        heap = [
            (int(row["requested_at_ms"]), key)
            for key, row in rows.items()
            if self._partition(key) == partition
        ]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def _partition(self, key: str) -> int:
        if (known := self._partitions.get(key)) is None:
            known = self._partitions[key] = self._partition_of(key)
        return known
