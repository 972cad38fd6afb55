"""Appending the pool's decisions and its runners' lives to ``sluice.fleet``, and reading them."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.domain.fleet import FleetEvent
from orchestrator.wire import decode_record, encode_record
from schemas.eventlog import append_acknowledged, partition_for, producer, read_partition
from schemas.settings import ServiceSettings
from schemas.topics import FLEET

__all__ = ["FleetLog", "read_fleet"]


class FleetLog:
    """Appends fleet events of one pool (key: the pool's name), each acknowledged by Kafka."""

    def __init__(self, settings: ServiceSettings, *, topic: str, pool: str) -> None:
        """Append to ``topic`` as pool ``pool``."""
        self._producer = producer(settings)
        self._topic = topic
        self._pool = pool

    def append(self, event: FleetEvent) -> None:
        """Append ``event`` and return once Kafka has it."""
        append_acknowledged(self._producer, self._topic, self._pool, encode_record(event))

    def close(self) -> None:
        """Deliver anything still queued."""
        self._producer.flush(10)


def read_fleet(settings: ServiceSettings, *, topic: str, pool: str) -> Iterator[FleetEvent]:
    """Every fleet event of ``pool`` still on ``topic``, oldest first."""
    partition = partition_for(pool, FLEET.partitions)
    for msg in read_partition(settings, topic, partition):
        if (msg.key() or b"").decode() == pool:
            event: FleetEvent = decode_record(msg.value() or b"", topic=topic, partition=partition)
            yield event
