"""Timers: turn the deadlines held in run state into inbox messages when they pass.

Three kinds of deadline, all read from a run's state (a fold of ``sluice.runs``):
a running attempt's lease (visibility timeout, extended by heartbeats) → ``StageLeaseExpired``;
a dispatched attempt nobody claimed within its lease → ``StageLeaseExpired`` with no runner;
a retry's back-off → ``StageRetryDue``. Time enters here, at the edge, as the message's
``occurred_at_ms``; ``decide`` fences anything early, late or duplicated, so firing twice is
harmless. Every 30 s a fallback scan fires again whatever is overdue, so a lost message
never strands a run.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from orchestrator.domain import RunState, StageStatus, evolve
from orchestrator.domain.events import RunEvent, StageLeaseExpired, StageRetryDue
from orchestrator.wire import decode_event, encode_event
from schemas.eventlog import TopicNames, consumer, producer, read_partition
from schemas.metrics import PROCESSOR_EVENTS, TIMER_FIRED
from schemas.settings import ServiceSettings

__all__ = ["Timer", "TimerWorker", "due_message", "timers_for"]

log = logging.getLogger("sluice.timers")
FALLBACK_SCAN_MS = 30_000


@dataclass(frozen=True, order=True)
class Timer:
    """A deadline of one stage attempt."""

    due_ms: int
    run_id: str
    stage: str
    attempt: int
    kind: str  # "lease" or "retry"
    runner_id: str | None = None


def timers_for(state: RunState) -> Iterator[Timer]:
    """Every deadline pending in ``state`` (pure)."""
    for s in state.stages.values():
        if s.status is StageStatus.RUNNING and s.lease_deadline_ms is not None:
            yield Timer(s.lease_deadline_ms, state.run_id, s.name, s.attempt, "lease", s.runner_id)
        elif s.status is StageStatus.QUEUED and s.waiting_for_retry:
            if s.retry_at_ms is not None:
                yield Timer(s.retry_at_ms, state.run_id, s.name, s.attempt, "retry")
        elif s.status is StageStatus.QUEUED and s.queued_at_ms is not None and s.lease_ms:
            yield Timer(s.queued_at_ms + s.lease_ms, state.run_id, s.name, s.attempt, "lease")


def due_message(timer: Timer, now_ms: int) -> RunEvent:
    """The inbox message a passed deadline becomes."""
    if timer.kind == "retry":
        return StageRetryDue(
            run_id=timer.run_id, stage=timer.stage, attempt=timer.attempt, occurred_at_ms=now_ms
        )
    return StageLeaseExpired(
        run_id=timer.run_id,
        stage=timer.stage,
        attempt=timer.attempt,
        runner_id=timer.runner_id,
        occurred_at_ms=now_ms,
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TimerWorker:
    """Follows ``sluice.runs``, keeps a heap of deadlines, fires them into ``sluice.inbox``."""

    def __init__(self, *, settings: ServiceSettings, prefix: str = "") -> None:
        self._settings = settings
        self._names = TopicNames(prefix)
        self._group = f"{prefix}sluice-timers"
        self._states: dict[str, RunState] = {}
        self._heap: list[Timer] = []
        self._current: dict[tuple[str, str], Timer] = {}
        self.fired = 0
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Fire deadlines until ``stop`` is set."""
        self._producer = producer(self._settings)
        self._consumer: Consumer = consumer(
            self._settings, group=self._group, **{"partition.assignment.strategy": "range"}
        )
        self._consumer.subscribe([self._names.runs], on_assign=self._assigned)
        next_scan = _now_ms() + FALLBACK_SCAN_MS
        try:
            while not stop.is_set():
                self._follow(self._wait_s())
                self._fire_due(_now_ms())
                if _now_ms() >= next_scan:
                    self._rescan()
                    next_scan = _now_ms() + FALLBACK_SCAN_MS
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _wait_s(self) -> float:
        if not self._heap:
            return 0.2
        return max(0.0, min(0.2, (self._heap[0].due_ms - _now_ms()) / 1000))

    def _assigned(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            end = 0
            for msg in read_partition(self._settings, self._names.runs, tp.partition):
                self._apply(msg.value() or b"", msg.partition() or 0, msg.offset() or 0)
                end = (msg.offset() or 0) + 1
            tp.offset = end
        c.assign(list(partitions))
        self.ready.set()

    def _follow(self, timeout: float) -> None:
        msg = self._consumer.poll(timeout)
        while msg is not None:
            if msg.error() is None:
                self._apply(msg.value() or b"", msg.partition() or 0, msg.offset() or 0)
                PROCESSOR_EVENTS.labels("timers").inc()
            msg = self._consumer.poll(0)

    def _apply(self, value: bytes, partition: int, offset: int) -> None:
        event = decode_event(value, topic=self._names.runs, partition=partition, offset=offset)
        state = evolve(self._states.get(event.run_id), event)
        if state is None:
            return
        self._states[event.run_id] = state
        pending = {(t.run_id, t.stage): t for t in timers_for(state)}
        for name in state.stages:
            key = (state.run_id, name)
            timer = pending.get(key)
            if timer is None:
                self._current.pop(key, None)
            elif self._current.get(key) != timer:
                self._current[key] = timer
                heapq.heappush(self._heap, timer)

    def _fire_due(self, now_ms: int) -> None:
        while self._heap and self._heap[0].due_ms <= now_ms:
            timer = heapq.heappop(self._heap)
            if self._current.get((timer.run_id, timer.stage)) != timer:
                continue  # superseded by a later state of that stage
            value = encode_event(due_message(timer, now_ms))
            self._producer.produce(self._names.inbox, key=timer.run_id.encode(), value=value)
            self.fired += 1
            TIMER_FIRED.labels("retry_due" if timer.kind == "retry" else "lease_expired").inc()
        self._producer.poll(0)

    def _rescan(self) -> None:
        """Fire again every deadline still pending and overdue (its message may be lost)."""
        now = _now_ms()
        for state in self._states.values():
            for timer in timers_for(state):
                if timer.due_ms <= now:
                    heapq.heappush(self._heap, timer)
                    self._current[(timer.run_id, timer.stage)] = timer
