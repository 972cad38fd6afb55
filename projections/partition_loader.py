"""Loading partitions' state beside a consumer's poll loop, one partition at a time.

A worker given partitions of ``sluice.runs`` folds each one's checkpoint and tail before
it decides anything there. That takes a second with a checkpoint, but minutes when there is
none (a history older than checkpoints, or one whose checkpoint an older version wrote):
done inside the rebalance callback, it would block ``poll`` past ``max.poll.interval.ms``,
the group would drop the worker, give the partitions back, and the load would start again,
forever. So the worker pauses a partition, hands it here, goes on polling (and deciding on
the partitions it has), and resumes the partition when its state is ready.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException

from projections.checkpoints import Loaded
from schemas.errors import InfrastructureError

__all__ = ["LoadFailed", "PartitionLoader"]

log = logging.getLogger("sluice.partition_loader")


@dataclass(frozen=True)
class LoadFailed:
    """A load that met a transient outage (Kafka unreachable): the caller asks again."""

    partition: int
    error: Exception


class PartitionLoader:
    """Runs ``load(partition)`` on a daemon thread, in the order asked, one at a time.

    Each request carries a ticket; :meth:`finished` returns only the results whose ticket is
    still the newest for their partition, so a load made stale by a revocation (or a reload)
    is dropped. An error other than an outage is raised in the caller's thread by
    :meth:`finished`: a bug must stop the worker, not leave a partition unloaded for good.
    """

    def __init__(self, load: Callable[[int], Loaded], name: str) -> None:
        self._load = load
        self._todo: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[int, int, Loaded | Exception]] = queue.SimpleQueue()
        self._tickets: dict[int, int] = {}
        self._next_ticket = 0
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    @property
    def pending(self) -> set[int]:
        """The partitions asked for and not yet returned by :meth:`finished`."""
        return set(self._tickets)

    def ask(self, partition: int) -> None:
        """Load ``partition`` (again, if a load of it is already asked or running)."""
        self._next_ticket += 1
        self._tickets[partition] = self._next_ticket
        self._todo.put((partition, self._next_ticket))

    def forget(self, partition: int) -> None:
        """Drop the result of any load of ``partition`` asked so far."""
        self._tickets.pop(partition, None)

    def finished(self) -> list[Loaded | LoadFailed]:
        """The loads done since the last call that are still wanted."""
        done: list[Loaded | LoadFailed] = []
        while True:
            try:
                partition, ticket, result = self._done.get_nowait()
            except queue.Empty:
                return done
            if self._tickets.get(partition) != ticket:
                continue  # revoked or asked again since: stale
            del self._tickets[partition]
            if isinstance(result, (InfrastructureError, KafkaException)):
                done.append(LoadFailed(partition, result))
            elif isinstance(result, Exception):
                raise result
            else:
                done.append(result)

    def close(self) -> None:
        """Stop the thread once the load running now (if any) ends."""
        self._tickets.clear()
        self._todo.put(None)

    def _serve(self) -> None:
        while (request := self._todo.get()) is not None:
            partition, ticket = request
            if self._tickets.get(partition) != ticket:
                continue  # revoked or asked again before it started
            try:
                result: Loaded | Exception = self._load(partition)
            except Exception as e:  # handed to the caller's thread, raised there
                result = e
            self._done.put((partition, ticket, result))
