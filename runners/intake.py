"""Taking jobs in priority order, one consumer per job topic, never starving the group.

Each priority has its own consumer (same group, one topic each). A consumer that has handed
over a message is *holding* it: its partitions are paused until the message is taken, so at
most one message per priority waits in memory. When a slot frees, :meth:`PriorityIntake.take`
gives the held message of the most urgent priority: with a hundred normal jobs queued, a
critical job that arrives is held by the critical consumer and taken at the next free slot.
Every consumer is polled on every loop turn, paused or not, so a long stage never makes the
group think this runner died (no rebalance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.eventlog import EventLogUnavailable, TopicNames, consumer
from schemas.settings import ServiceSettings
from schemas.topics import PRIORITIES

__all__ = ["Offered", "PriorityIntake"]

_CONSUMER_TUNING: dict[str, Any] = {
    "session.timeout.ms": 6_000,  # the broker's minimum: a dead runner's jobs move on in ~6 s
    "heartbeat.interval.ms": 1_000,
    "max.poll.interval.ms": 300_000,
    # a job topic created moments before (new deployment) is noticed in seconds, not 5 min
    "topic.metadata.refresh.interval.ms": 5_000,
}


@dataclass(frozen=True, slots=True)
class Offered:
    """A job message taken from its topic, not yet committed."""

    priority: str
    message: Message


class PriorityIntake:
    """The job topics of one deployment, consumed most urgent first."""

    def __init__(self, settings: ServiceSettings, *, topics: TopicNames, group: str) -> None:
        """Subscribe one consumer per priority in ``group``."""
        self._consumers: dict[str, Consumer] = {}
        self._held: dict[str, Message] = {}
        for priority in PRIORITIES:
            c = consumer(settings, group=group, **_CONSUMER_TUNING)
            c.subscribe([topics.job(priority)], on_revoke=self._revoked(priority))
            self._consumers[priority] = c

    def poll(self) -> None:
        """Fetch at most one message per priority (keeps every consumer alive in the group)."""
        for priority, c in self._consumers.items():
            msg = c.poll(0)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise EventLogUnavailable(f"job consumer failed: {error}")
                continue
            self._hold(priority, c, msg)

    def take(self) -> Offered | None:
        """The held message of the most urgent priority, if any; its consumer resumes."""
        for priority in PRIORITIES:
            msg = self._held.pop(priority, None)
            if msg is not None:
                c = self._consumers[priority]
                c.resume(c.assignment())
                return Offered(priority, msg)
        return None

    def commit(self, offered: Offered) -> bool:
        """Commit past ``offered``; False if its partition moved to another runner meanwhile."""
        msg = offered.message
        tp = TopicPartition(msg.topic() or "", msg.partition() or 0, (msg.offset() or 0) + 1)
        try:
            self._consumers[offered.priority].commit(offsets=[tp], asynchronous=False)
        except KafkaException:
            return False
        return True

    def close(self) -> None:
        """Leave the group (held messages stay uncommitted: another runner gets them)."""
        for c in self._consumers.values():
            c.close()

    def _hold(self, priority: str, c: Consumer, msg: Message) -> None:
        if priority in self._held:  # a partition assigned after the pause: hand it back
            c.seek(TopicPartition(msg.topic() or "", msg.partition() or 0, msg.offset() or 0))
        else:
            self._held[priority] = msg
        c.pause(c.assignment())

    def _revoked(self, priority: str) -> Any:
        def on_revoke(_c: Consumer, partitions: list[TopicPartition]) -> None:
            held = self._held.get(priority)
            lost = {(tp.topic, tp.partition) for tp in partitions}
            if held is not None and (held.topic(), held.partition()) in lost:
                del self._held[priority]  # its new owner will deliver it again

        return on_revoke
