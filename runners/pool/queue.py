"""What waits for a runner: depth and oldest wait per priority, and each new job at once.

A job waits in one of two places: on its topic, not yet fed into the job queue by any
runner (none running, or all behind), or in the job queue (``job_queue``, PostgreSQL),
fed but not yet taken by a runner with a free slot. :meth:`QueueWatch.views` adds both.

The pool reads every job topic with its own consumer (assigned, never in a group, never
committing), starting where the runners' consumer group stands, so a backlog that predates
the pool is seen. It remembers each job's (offset, timestamp); a job stops counting once the
runners' group has committed past it (it was claimed). The group's committed offsets are
read by a second consumer that carries the runners' group id but never subscribes, so it
never joins the group or moves an offset. :meth:`QueueWatch.wait` returns as soon as a new
job arrives: the pool decides on every new job, not on a polling period.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from orchestrator.domain.pool_policy import QueueView
from schemas.eventlog import PATIENT_FETCH, EventLogUnavailable, TopicNames, consumer
from schemas.settings import ServiceSettings
from schemas.topics import JOB_TOPICS_BY_PRIORITY, PRIORITIES

__all__ = ["QueueWatch"]

_Key = tuple[str, int]
_BATCH = 5_000
_IN_QUEUE = """
SELECT priority, count(*), min(enqueued_at_ms) FROM job_queue
WHERE handed_over_at IS NULL AND (hold_until IS NULL OR hold_until < now())
GROUP BY priority
"""


class QueueWatch:
    """The job topics of one deployment, as waiting jobs per priority."""

    def __init__(
        self, settings: ServiceSettings, *, topics: TopicNames, group: str, schema: str
    ) -> None:
        """Start reading every job topic where the runners' ``group`` stands; the job queue
        is the one in PostgreSQL ``schema``."""
        self._db = psycopg.connect(
            settings.pg_dsn, autocommit=True, options=f"-c search_path={schema}"
        )
        self._priority = {topics.job(p): p for p in PRIORITIES}
        self._probe = consumer(settings, group=group)
        self._reader = consumer(settings, group=f"{group}.pool-watch", **PATIENT_FETCH)
        self._partitions = [
            TopicPartition(topic, n)
            for topic, p in self._priority.items()
            for n in range(self._partition_count(topic, p))
        ]
        self._waiting: dict[_Key, deque[tuple[int, int]]] = {
            (tp.topic, tp.partition): deque() for tp in self._partitions
        }
        committed = self._committed()
        self._reader.assign(
            [
                TopicPartition(tp.topic, tp.partition, committed.get(_key(tp), OFFSET_BEGINNING))
                for tp in self._partitions
            ]
        )

    def wait(self, timeout_s: float) -> int:
        """Read what arrived, waiting up to ``timeout_s`` for the first; how many arrived."""
        arrived = 0
        msg = self._reader.poll(timeout_s)
        while msg is not None:
            if msg.error() is None:
                key = (msg.topic() or "", msg.partition() or 0)
                self._waiting[key].append((msg.offset() or 0, msg.timestamp()[1]))
                arrived += 1
            if arrived >= _BATCH:  # a steady stream must not keep the pool from deciding
                break
            msg = self._reader.poll(0)
        return arrived

    def views(self, now_ms: int) -> tuple[QueueView, ...]:
        """Each priority's waiting jobs (on a topic, not yet fed; or in the job queue, not yet
        taken) and the oldest wait."""
        committed = self._committed()
        depth = dict.fromkeys(PRIORITIES, 0)
        oldest = dict.fromkeys(PRIORITIES, now_ms)
        for key, jobs in self._waiting.items():
            floor = committed.get(key, 0)
            while jobs and jobs[0][0] < floor:
                jobs.popleft()
            priority = self._priority[key[0]]
            depth[priority] += len(jobs)
            if jobs:
                oldest[priority] = min(oldest[priority], jobs[0][1])
        for rank, count, first_ms in self._db.execute(_IN_QUEUE).fetchall():
            priority = PRIORITIES[int(rank)]
            depth[priority] += int(count)
            oldest[priority] = min(oldest[priority], int(first_ms))
        return tuple(
            QueueView(priority=p, depth=depth[p], oldest_wait_ms=max(0, now_ms - oldest[p]))
            for p in PRIORITIES
        )

    def close(self) -> None:
        """Stop reading (nothing was ever committed)."""
        self._db.close()
        self._reader.close()
        self._probe.close()

    def _partition_count(self, topic: str, priority: str) -> int:
        """As created (tests make fewer); the catalogue's count for a topic not there yet."""
        try:
            found = self._reader.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as e:
            raise EventLogUnavailable(f"cannot read the metadata of {topic}: {e}") from e
        if found is None or found.error is not None or not found.partitions:
            return JOB_TOPICS_BY_PRIORITY[priority].partitions
        return len(found.partitions)

    def _committed(self) -> dict[_Key, int]:
        try:
            found: list[Any] = self._probe.committed(self._partitions, timeout=10)
        except KafkaException as e:
            raise EventLogUnavailable(f"cannot read the runners' offsets: {e}") from e
        return {_key(tp): tp.offset for tp in found if tp.offset >= 0}


def _key(tp: TopicPartition) -> _Key:
    return (tp.topic, tp.partition)
