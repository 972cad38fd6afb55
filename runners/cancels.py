"""Noticing cancellations: a reader of ``sluice.runs`` from its end, keyed by run.

It needs no group coordination (partitions are assigned by hand at their end offsets), and
it decodes only messages whose key is the run of an attempt this runner is running.
"""

from __future__ import annotations

from collections.abc import Collection

from confluent_kafka import Consumer

from runners.messages import CancelNotice, cancel_notice
from schemas.eventlog import PATIENT_FETCH, TopicNames, assign_at_end, consumer
from schemas.settings import ServiceSettings

__all__ = ["CancelWatcher"]

_BATCH = 500


class CancelWatcher:
    """Reads ``StageCancelled`` and ``RunCancelled`` for the runs given to :meth:`poll`."""

    def __init__(self, settings: ServiceSettings, *, topics: TopicNames, runner_id: str) -> None:
        """Start reading ``topics.runs`` at its current end."""
        self._consumer: Consumer = consumer(
            settings, group=f"sluice-runner-cancels-{runner_id}", **PATIENT_FETCH
        )
        assign_at_end(self._consumer, topics.runs)

    def poll(self, runs: Collection[str]) -> list[CancelNotice]:
        """Cancellations that arrived since the last call, for ``runs`` only."""
        notices = []
        for msg in self._consumer.consume(_BATCH, timeout=0):
            key = msg.key()
            if msg.error() is not None or key is None or key.decode() not in runs:
                continue
            notice = cancel_notice(msg.value() or b"")
            if notice is not None:
                notices.append(notice)
        return notices

    def close(self) -> None:
        """Stop reading."""
        self._consumer.close()
