"""The pipelines the trigger processor knows, kept from the compacted ``sluice.pipelines``.

A lookup reads the pipeline's partition up to its current end when the pipeline is not
known yet (or the partition was last read more than ``refresh_s`` ago). So a trigger sent
after its pipeline's registration was acknowledged always finds it: read-your-writes,
with no race between "register" and "run".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message

from orchestrator.domain.records import PipelineDeleted, PipelineRegistered, PipelineUpdated
from projections.trigger_rules import Pipeline
from schemas.errors import DomainError
from schemas.eventlog import consumer, end_offsets, partition_for, read_partition
from schemas.settings import ServiceSettings
from schemas.topics import PIPELINES

__all__ = ["PipelineCatalogue"]

log = logging.getLogger(__name__)

Decode = Callable[[Message], object]


class PipelineCatalogue:
    """Pipelines by id, caught up with ``sluice.pipelines`` on demand (thread-safe)."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        topic: str,
        decode: Decode,
        partitions: int = PIPELINES.partitions,
        refresh_s: float = 5.0,
    ) -> None:
        """Read ``topic`` (``partitions`` wide) with ``settings``; decode each message so."""
        self._settings = settings
        self._topic = topic
        self._decode = decode
        self._partitions = partitions
        self._refresh_s = refresh_s
        self._known: dict[str, Pipeline] = {}
        self._next: dict[int, int] = {}
        self._read_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self._watermarks: Consumer | None = None

    def lookup(self, pipeline_id: str) -> Pipeline | None:
        """The pipeline's newest registration, or None when it is unknown or deleted."""
        partition = partition_for(pipeline_id, self._partitions)
        with self._lock:
            if pipeline_id not in self._known or self._stale(partition):
                self._catch_up(partition)
            return self._known.get(pipeline_id)

    def peek(self, pipeline_id: str) -> tuple[bool, Pipeline | None]:
        """``(True, pipeline)`` when what is known of ``pipeline_id`` is fresh (read within
        ``refresh_s``) and can be answered with no I/O; ``(False, None)`` when it must be
        looked up (or another thread is catching up right now)."""
        partition = partition_for(pipeline_id, self._partitions)
        if not self._lock.acquire(blocking=False):
            return False, None
        try:
            if pipeline_id not in self._known or self._stale(partition):
                return False, None
            return True, self._known[pipeline_id]
        finally:
            self._lock.release()

    def _stale(self, partition: int) -> bool:
        read_at = self._read_at.get(partition)
        return read_at is None or time.monotonic() - read_at > self._refresh_s

    def _catch_up(self, partition: int) -> None:
        start = self._next.get(partition, 0)
        # read_partition waits out its deadline when asked to start at the very end.
        if self._end(partition) > start:
            self._read_from(partition, start)
        self._read_at[partition] = time.monotonic()

    def _end(self, partition: int) -> int:
        if self._watermarks is None:
            self._watermarks = consumer(self._settings, group="sluice-pipeline-catalogue")
        return end_offsets(self._watermarks, self._topic, [partition])[partition]

    def _read_from(self, partition: int, start: int) -> None:
        for msg in read_partition(self._settings, self._topic, partition, start=start):
            self._apply(msg)
            self._next[partition] = (msg.offset() or 0) + 1

    def _apply(self, msg: Message) -> None:
        try:
            record = self._decode(msg)
        except DomainError as e:  # not a record of ours (or not one this version knows)
            log.warning("skipping an unreadable pipeline record: %s", e)
            return
        if isinstance(record, PipelineDeleted):
            self._known.pop(record.pipeline_id, None)
        elif isinstance(record, PipelineRegistered | PipelineUpdated):
            self._known[record.pipeline_id] = record
