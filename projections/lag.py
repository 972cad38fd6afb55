"""How far consumers are behind the head of their topics, as Prometheus gauges.

:func:`assigned_lag` is for a processor measuring itself (its consumer's positions);
:class:`LagExporter` (``sluice processor lag``) watches other groups from outside by reading
their committed offsets: the runners' group on every job topic (the queue depth per
priority) and the decider's group on ``sluice.inbox``; and the size of the dead-letter queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from schemas.eventlog import TopicNames, consumer
from schemas.metrics import CONSUMER_LAG, DEAD_LETTER_QUEUE, PROJECTION_LAG, QUEUE_DEPTH
from schemas.settings import ServiceSettings
from schemas.topics import INBOX, PRIORITIES

__all__ = ["LagExporter", "assigned_lag", "export_assigned_lag", "group_lag", "topic_size"]

_log = logging.getLogger("sluice.lag")
_TIMEOUT_S = 5.0


def assigned_lag(c: Consumer, starts: Mapping[tuple[str, int], int] | None = None) -> int:
    """Messages between ``c``'s positions and the head, summed over what it is assigned, by
    the watermarks its last fetch of each partition brought.

    A partition nothing was taken from since its assignment has no position yet: it counts
    from where it was assigned to start (``starts``, by (topic, partition)), or 0 if that is
    not given; a partition not fetched yet counts 0.
    """
    # Not asked of the broker: a request goes on the connection of the consumer's own fetch
    # in flight and waits behind it, up to fetch.wait.max.ms for every partition (12 queries
    # took 150 ms at 10 ms, 5.6 s at 500 ms), while the consumer's loop waits for the answer.
    owned = c.assignment()
    if not owned:
        return 0
    total = 0
    for tp in c.position(owned):
        low, high = c.get_watermark_offsets(tp, cached=True)
        start = tp.offset if tp.offset >= 0 else (starts or {}).get((tp.topic, tp.partition), -1)
        if start == OFFSET_BEGINNING:
            start = low
        if high >= 0 and start >= 0:
            total += max(0, high - start)
    return total


def export_assigned_lag(
    processor: str, c: Consumer, starts: Mapping[tuple[str, int], int] | None = None
) -> None:
    """Set ``processor``'s projection-lag gauge from ``c`` (see :func:`assigned_lag`); a
    failed probe only logs (metrics never stop a processor)."""
    try:
        PROJECTION_LAG.labels(processor).set(assigned_lag(c, starts))
    except KafkaException as e:
        _log.warning("cannot measure %s's lag: %s", processor, e)


def group_lag(c: Consumer, topic: str) -> int:
    """Messages of ``topic`` not yet committed by the group ``c`` was made with."""
    meta = c.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if meta is None or meta.error is not None:
        return 0
    parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
    total = 0
    for tp in c.committed(parts, timeout=_TIMEOUT_S):
        low, high = c.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
        total += max(0, high - (tp.offset if tp.offset >= 0 else low))
    return total


def topic_size(c: Consumer, topic: str) -> int:
    """Messages ``topic`` holds now (head minus low watermark, summed over partitions)."""
    meta = c.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if meta is None or meta.error is not None:
        return 0
    total = 0
    for p in meta.partitions:
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S)
        total += max(0, high - low)
    return total


class LagExporter:
    """Samples the runners' and the decider's lag every ``interval_s`` seconds."""

    def __init__(
        self, settings: ServiceSettings, *, prefix: str = "", interval_s: float = 5.0
    ) -> None:
        """Watch the groups and topics named with ``prefix``."""
        self._settings = settings
        self._prefix = prefix
        self._names = TopicNames(prefix)
        self._interval_s = interval_s

    def run(self, stop: threading.Event) -> None:
        """Sample until ``stop`` is set; a failed sample is logged and tried again."""
        runners = consumer(self._settings, group=f"{self._prefix}sluice-runners")
        decider = consumer(self._settings, group=f"{self._prefix}sluice-decider")
        try:
            while not stop.is_set():
                try:
                    self.sample(runners, decider)
                except KafkaException as e:
                    _log.warning("lag sample failed: %s", e)
                stop.wait(self._interval_s)
        finally:
            runners.close()
            decider.close()

    def sample(self, runners: Consumer, decider: Consumer) -> None:
        """Set the gauges once (consumers made with the watched groups' ids, never joined)."""
        for priority in PRIORITIES:
            depth = group_lag(runners, self._names.job(priority))
            QUEUE_DEPTH.labels(priority).set(depth)
            CONSUMER_LAG.labels("sluice-runners", f"sluice.jobs.{priority}").set(depth)
        inbox = group_lag(decider, self._names.inbox)
        CONSUMER_LAG.labels("sluice-decider", INBOX.name).set(inbox)
        PROJECTION_LAG.labels("decider").set(inbox)
        DEAD_LETTER_QUEUE.set(topic_size(decider, self._names.dead_letters))
