"""A runner's notices: what the decider tells it on ``sluice.runner-notices``.

The decider copies there, keyed by runner id, the few events of ``sluice.runs`` a runner acts
on (:mod:`orchestrator.domain.runner_notices`): its claims accepted, the leases it lost, its
attempts cancelled. The claim gate and the cancellations read what :meth:`Notices.read`
returns. A runner reads the one partition its id hashes to, keeping its own notices: the
broker sends it the notices of the few runners sharing that partition instead of every event
of every run (which, with every runner reading ``sluice.runs``, grew with runners times events).
It needs no group coordination: the partition is assigned by hand at its end offset, before
the runner sends any claim.
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, TopicPartition

from schemas.eventlog import (
    PATIENT_FETCH,
    EventLogUnavailable,
    TopicNames,
    consumer,
    end_offsets,
    partition_for,
    partitions_of,
)
from schemas.settings import ServiceSettings

__all__ = ["Notices"]

_BATCH = 500

log = logging.getLogger("sluice.runner")


class Notices:
    """The notices addressed to one runner since it started."""

    def __init__(self, settings: ServiceSettings, *, topics: TopicNames, runner_id: str) -> None:
        """Start reading ``runner_id``'s partition of ``topics.runner_notices`` at its end."""
        self._key = runner_id.encode()
        self._consumer: Consumer = consumer(
            settings, group=f"sluice-runner-notices-{runner_id}", **PATIENT_FETCH
        )
        try:
            self._assign_own(topics.runner_notices, runner_id)
        except EventLogUnavailable:
            self._consumer.close()
            raise

    def _assign_own(self, topic: str, runner_id: str) -> None:
        # the topic as made: a small deployment may have made it with fewer partitions
        partitions = len(partitions_of(self._consumer, topic))
        if not partitions:  # it would wait 15 s for every claim and start none
            raise EventLogUnavailable(
                f"the topic {topic} does not exist: create the catalogue's topics with infra/up"
                " (or python infra/bootstrap.py kafka) before starting runners"
            )
        partition = partition_for(runner_id, partitions)
        end = end_offsets(self._consumer, topic, [partition])[partition]
        self._consumer.assign([TopicPartition(topic, partition, end)])

    def read(self) -> list[bytes]:
        """The values of the notices to this runner that arrived since the last call (never
        waits; the other runners' notices on the partition are read and dropped)."""
        found = []
        for msg in self._consumer.consume(_BATCH, timeout=0):
            error = msg.error()
            if error is not None:
                # librdkafka retries on its own; logged, a runner that hears no answer to
                # its claims shows why
                log.warning("reading this runner's notices: %s", error)
            elif msg.key() == self._key:
                found.append(msg.value() or b"")
        return found

    def close(self) -> None:
        """Stop reading."""
        self._consumer.close()
