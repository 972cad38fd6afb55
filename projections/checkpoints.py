"""Load a partition's working state: the newest checkpoint, then the tail of ``sluice.runs``.

Why a compacted Kafka topic (``sluice.checkpoints``) and not PostgreSQL: the decider writes
its checkpoint records in the same Kafka transaction as the events they cover and the inbox
offsets it consumed, so a checkpoint exists exactly when its events do (a fenced worker's
checkpoint aborts with its events); PostgreSQL could only be written beside the transaction.
Keyed by ``run_id`` and co-partitioned with ``sluice.runs``, compaction keeps each run's
newest record: reading a partition costs the working state, not the history.

A checkpoint this version cannot read with certainty (no position, another format, a record
that does not decode) is never guessed at: the partition is folded from offset 0 and every
key of the old checkpoint is deleted or rewritten by the next checkpoint.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from orchestrator.domain.retention import Retention
from projections.working_state import (
    POSITION_KEY,
    CheckpointUnreadable,
    PartitionState,
    Record,
    restore,
)
from schemas.eventlog import TopicNames, read_partition
from schemas.settings import ServiceSettings

__all__ = ["Loaded", "load_partition"]

log = logging.getLogger("sluice.checkpoints")
_COMPACT_EVERY = 10_000


@dataclass(frozen=True)
class Loaded:
    """A loaded partition and what loading it took."""

    state: PartitionState
    checkpoint_records: int
    tail_events: int
    rebuilt: bool
    seconds: float


def load_partition(
    settings: ServiceSettings,
    names: TopicNames,
    partition: int,
    retention: Retention | None = None,
) -> Loaded:
    """The partition's state from its newest checkpoint and the events after it."""
    started = time.perf_counter()
    records = _read_checkpoint(settings, names, partition)
    rebuilt = False
    try:
        state = restore(partition, records, retention)
    except CheckpointUnreadable as e:
        if records:
            log.warning("rebuilding partition %s from offset 0: %s", partition, e)
        rebuilt = True
        state = PartitionState(partition, retention or Retention())
        state.dirty |= {key.decode() for key, _ in records if key != POSITION_KEY}
    tail = 0
    for msg in read_partition(settings, names.runs, partition, start=state.runs_offset):
        state.fold(msg.value() or b"", msg.offset() or 0)
        tail += 1
        if tail % _COMPACT_EVERY == 0:
            state.compact()  # a fold from offset 0 holds the working state, not the history
    elapsed = time.perf_counter() - started
    return Loaded(state, len(records), tail, rebuilt, elapsed)


def _read_checkpoint(settings: ServiceSettings, names: TopicNames, partition: int) -> list[Record]:
    return [
        (msg.key() or b"", msg.value())
        for msg in read_partition(settings, names.checkpoints, partition)
    ]
