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

from orchestrator.domain import RunState, StageStatus
from orchestrator.domain.errors import InvalidTransition
from orchestrator.domain.events import RunEvent, StageLeaseExpired, StageRetryDue
from orchestrator.domain.retention import Retention
from orchestrator.wire import decode_event, encode_event
from projections.checkpoints import Loaded, load_partition
from projections.decider import takeover_configs
from projections.working_state import PartitionState
from schemas.eventlog import TopicNames, consumer, producer
from schemas.metrics import PROCESSOR_EVENTS, TIMER_FIRED, TIMER_SKIPPED
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
    """Follows ``sluice.runs``, keeps a heap of deadlines, fires them into ``sluice.inbox``.

    Its state per partition is the decider's (:class:`PartitionState`): given a partition, it
    loads the decider's newest checkpoint of it and folds the tail, like the decider.
    """

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        prefix: str = "",
        retention: Retention | None = None,
        member_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._member = f"{prefix}sluice-timers-{member_id}" if member_id else None
        self._names = TopicNames(prefix)
        self._group = f"{prefix}sluice-timers"
        self._retention = retention or Retention()
        self._parts: dict[int, PartitionState] = {}
        self._heap: list[Timer] = []
        self._current: dict[tuple[str, str], Timer] = {}
        self.fired = 0
        self.loads: list[Loaded] = []
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Fire deadlines until ``stop`` is set."""
        self._producer = producer(self._settings)
        self._consumer: Consumer = consumer(
            self._settings,
            group=self._group,
            **{"partition.assignment.strategy": "range"},
            **takeover_configs(self._member),
        )
        self._consumer.subscribe(
            [self._names.runs], on_assign=self._assigned, on_revoke=self._revoked
        )
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
            loaded = load_partition(self._settings, self._names, tp.partition, self._retention)
            self.loads.append(loaded)
            self._parts[tp.partition] = loaded.state
            loaded.state.dirty.clear()
            for state in loaded.state.runs.values():
                self._track(state)
            tp.offset = loaded.state.runs_offset
        c.assign(list(partitions))
        self.ready.set()

    def _revoked(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp.partition, None)

    def _follow(self, timeout: float) -> None:
        msg = self._consumer.poll(timeout)
        while msg is not None:
            if msg.error() is None:
                self._apply(msg.value() or b"", msg.partition() or 0, msg.offset() or 0)
                PROCESSOR_EVENTS.labels("timers").inc()
            msg = self._consumer.poll(0)

    def _apply(self, value: bytes, partition: int, offset: int) -> None:
        part = self._parts.get(partition)
        if part is None:
            return  # not (or no longer) ours
        event = decode_event(value, topic=self._names.runs, partition=partition, offset=offset)
        try:
            part.record(event, value)
        except InvalidTransition as e:
            # The decider accepted it, so this reader's state missed something: skip it rather
            # than stop firing every other run's deadlines (the decider stays the judge).
            log.error("timers: skipping %s at %s[%d]@%d: %s", type(event).__name__,
                      self._names.runs, partition, offset, e)  # fmt: skip
            TIMER_SKIPPED.inc()
        part.runs_offset = offset + 1
        part.dirty.clear()
        state = part.runs.get(event.run_id)
        if state is not None:
            self._track(state)

    def _track(self, state: RunState) -> None:
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
        """Fire again every deadline still pending and overdue (its message may be lost).

        Also lets finished runs leave the working state, as the decider does.
        """
        now = _now_ms()
        for part in self._parts.values():
            part.compact()
            part.dirty.clear()
        for state in (s for part in self._parts.values() for s in part.runs.values()):
            for timer in timers_for(state):
                if timer.due_ms <= now:
                    heapq.heappush(self._heap, timer)
                    self._current[(timer.run_id, timer.stage)] = timer
