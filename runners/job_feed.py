"""Copying the job topics into the job queue: one consumer group shared by every runner.

Every runner feeds, busy or not, so a job reaches the queue within milliseconds whoever
owns its partition; which runner then *runs* it is the queue's business (the most urgent,
oldest job goes to whichever runner has a free slot). Offsets are committed after the rows
are in PostgreSQL: a crash in between feeds the same messages again, and the queue ignores a
``job_id`` it already has. A runner that dies is dropped from the group in ~6 s (the
session timeout), and its partitions are fed by another runner.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from runners.job_queue import JobQueue, QueuedJob
from runners.messages import decode_job
from schemas.eventlog import (
    PATIENT_FETCH,
    EventLogUnavailable,
    TopicNames,
    consumer,
    is_fatal,
)
from schemas.pg import DatabaseUnavailable
from schemas.settings import ServiceSettings
from schemas.topics import PRIORITIES

__all__ = ["JobFeed"]

log = logging.getLogger("sluice.runner")
_BATCH = 500
_TUNING: dict[str, Any] = {
    **PATIENT_FETCH,
    "max.poll.interval.ms": 300_000,
    # a job topic created moments before (new deployment) is noticed in seconds, not 5 min
    "topic.metadata.refresh.interval.ms": 5_000,
}


class JobFeed:
    """The job topics of one deployment → :class:`JobQueue`."""

    def __init__(
        self, settings: ServiceSettings, *, topics: TopicNames, group: str, queue: JobQueue
    ) -> None:
        """Join ``group`` on every priority's job topic."""
        self._queue = queue
        self._consumer: Consumer = consumer(settings, group=group, **_TUNING)
        self._consumer.subscribe([topics.job(p) for p in PRIORITIES])

    def poll(self) -> int:
        """Queue what arrived since the last call (never waits); how many messages."""
        messages = self._consumer.consume(_BATCH, timeout=0)
        jobs = [job for msg in messages if (job := self._queued(msg)) is not None]
        try:
            self._queue.add(jobs)
        except DatabaseUnavailable:
            self._rewind(messages)  # read them again once PostgreSQL answers
            raise
        if messages:
            try:
                self._consumer.commit(asynchronous=False)
            except KafkaException as e:  # a rebalance meanwhile: the next owner feeds again
                log.info("job feed: commit skipped (%s); the rows are queued already", e)
        return len(messages)

    def _rewind(self, messages: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            where = (msg.topic() or "", msg.partition() or 0)
            first[where] = min(first.get(where, msg.offset() or 0), msg.offset() or 0)
        for (topic, partition), offset in first.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException:  # no longer ours: its new owner reads from the commit
                continue

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()

    def _queued(self, msg: Message) -> QueuedJob | None:
        error = msg.error()
        if error is not None:
            if is_fatal(error):
                raise EventLogUnavailable(f"job consumer failed: {error}")
            return None
        data = msg.value() or b""
        try:
            job = decode_job(data)
        except Exception:  # a malformed job must not stop the feed: skip it, loudly
            where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
            log.exception("skipping an undecodable job message at %s", where)
            return None
        return QueuedJob(job.job_id, job.run_id, job.priority.value, job.enqueued_at_ms, data)
