"""A runner's one reader of ``sluice.runs``: from its end, keeping only the runs asked for.

The claim gate (claims accepted, leases lost) and the cancellations both read what it
returns. Every runner reads every event of ``sluice.runs`` and keeps its own runs' few, so
one consumer per runner instead of two halves what the broker sends 50 runners. It needs
no group coordination: partitions are assigned by hand at their end offsets, before the
runner sends any claim.
"""

from __future__ import annotations

from collections.abc import Collection

from confluent_kafka import Consumer

from schemas.eventlog import PATIENT_FETCH, TopicNames, assign_at_end, consumer
from schemas.settings import ServiceSettings

__all__ = ["RunsTail"]

_BATCH = 500


class RunsTail:
    """The events of ``sluice.runs`` appended since it started, for the runs given to
    :meth:`read`."""

    def __init__(self, settings: ServiceSettings, *, topics: TopicNames, runner_id: str) -> None:
        """Start reading ``topics.runs`` at its current end."""
        self._consumer: Consumer = consumer(
            settings, group=f"sluice-runner-runs-{runner_id}", **PATIENT_FETCH
        )
        assign_at_end(self._consumer, topics.runs)

    def read(self, runs: Collection[str]) -> list[bytes]:
        """The values of the messages that arrived since the last call and are keyed by one
        of ``runs`` (never waits; the others are read and dropped)."""
        values = []
        for msg in self._consumer.consume(_BATCH, timeout=0):
            key = msg.key()
            if msg.error() is None and key is not None and key.decode() in runs:
                values.append(msg.value() or b"")
        return values

    def close(self) -> None:
        """Stop reading."""
        self._consumer.close()
