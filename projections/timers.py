"""Timers: turn the deadlines held in run state into inbox messages when they pass.

Three kinds of deadline, all read from a run's state (a fold of ``sluice.runs``):
a running attempt's lease (60 s, renewed by heartbeats) → ``StageLeaseExpired``;
a dispatched attempt nobody claimed within the schedule-to-start timeout
(``SLUICE_SCHEDULE_TO_START_TIMEOUT_S``, a day by default) → ``StageStartTimedOut``, which is
never an infrastructure failure (:mod:`orchestrator.domain.leases`);
a retry's back-off → ``StageRetryDue``. Time enters here, at the edge, as the message's
``occurred_at_ms``; ``decide`` fences anything early, late or duplicated, so firing twice is
harmless. Every 30 s a fallback scan fires again whatever is overdue, so a lost message
never strands a run.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from orchestrator.domain import RunState, StageStatus
from orchestrator.domain.errors import InvalidTransition
from orchestrator.domain.events import (
    RunEvent,
    StageLeaseExpired,
    StageRetryDue,
    StageStartTimedOut,
)
from orchestrator.domain.leases import DEFAULT_START_TIMEOUT_MS, lease_deadline, start_deadline
from orchestrator.domain.retention import Retention
from orchestrator.wire import decode_event, encode_event
from projections.checkpoints import Loaded, load_partition
from projections.decider import takeover_configs
from projections.working_state import PartitionState
from schemas.eventlog import (
    PATIENT_FETCH,
    EventLogUnavailable,
    TopicNames,
    consumer,
    is_fatal,
    producer,
)
from schemas.metrics import PROCESSOR_EVENTS, TIMER_FIRED, TIMER_SKIPPED
from schemas.settings import ServiceSettings

__all__ = ["Timer", "TimerSettings", "TimerWorker", "due_message", "timers_for"]

log = logging.getLogger("sluice.timers")
FALLBACK_SCAN_MS = 30_000
_FIRED = {"retry": "retry_due", "lease": "lease_expired", "start": "start_timed_out"}


@dataclass(frozen=True, kw_only=True)
class TimerSettings:
    """The timers' own setting: how long a queued job may wait for a runner
    (``SLUICE_SCHEDULE_TO_START_TIMEOUT_S``, default 86400: a day)."""

    start_timeout_ms: int = DEFAULT_START_TIMEOUT_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TimerSettings:
        """Read the variable (``os.environ`` by default)."""
        env = os.environ if env is None else env
        default_s = str(cls.start_timeout_ms // 1000)
        seconds = float(env.get("SLUICE_SCHEDULE_TO_START_TIMEOUT_S", default_s))
        return cls(start_timeout_ms=int(seconds * 1000))


@dataclass(frozen=True, order=True)
class Timer:
    """A deadline of one stage attempt."""

    due_ms: int
    run_id: str
    stage: str
    attempt: int
    kind: str  # "lease", "start" (schedule-to-start) or "retry"
    runner_id: str | None = None
    queued_at_ms: int = 0  # "start" only: the queueing the timeout counts from


def timers_for(
    state: RunState, start_timeout_ms: int = DEFAULT_START_TIMEOUT_MS
) -> Iterator[Timer]:
    """Every deadline pending in ``state`` (pure)."""
    for s in state.stages.values():
        lease = lease_deadline(s)
        start = start_deadline(s, start_timeout_ms)
        if lease is not None:
            yield Timer(lease, state.run_id, s.name, s.attempt, "lease", s.runner_id)
        elif s.status is StageStatus.QUEUED and s.waiting_for_retry:
            if s.retry_at_ms is not None:
                yield Timer(s.retry_at_ms, state.run_id, s.name, s.attempt, "retry")
        elif start is not None:
            queued = s.queued_at_ms or 0
            yield Timer(start, state.run_id, s.name, s.attempt, "start", queued_at_ms=queued)


def due_message(timer: Timer, now_ms: int) -> RunEvent:
    """The inbox message a passed deadline becomes."""
    if timer.kind == "retry":
        return StageRetryDue(
            run_id=timer.run_id, stage=timer.stage, attempt=timer.attempt, occurred_at_ms=now_ms
        )
    if timer.kind == "start":
        return StageStartTimedOut(
            run_id=timer.run_id,
            stage=timer.stage,
            attempt=timer.attempt,
            queued_at_ms=timer.queued_at_ms,
            timeout_ms=timer.due_ms - timer.queued_at_ms,
            occurred_at_ms=now_ms,
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
        own: TimerSettings | None = None,
    ) -> None:
        self._settings = settings
        self._start_timeout_ms = (own or TimerSettings()).start_timeout_ms
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
        """Fire deadlines until ``stop`` is set.

        Kafka failing under it (a broker dying while a partition loads, a fatal consumer
        error) starts it again in place: new clients, its partitions loaded again. Firing
        twice is harmless, stopping is not: every lease and retry of its runs would stall.
        """
        while not stop.is_set():
            try:
                self._serve(stop)
            except (KafkaException, EventLogUnavailable) as e:
                log.error("timers start again after a Kafka error: %s", e)
                self._parts.clear()
                stop.wait(1.0)

    def _serve(self, stop: threading.Event) -> None:
        self._producer = producer(self._settings)
        self._consumer: Consumer = consumer(
            self._settings,
            group=self._group,
            **{"partition.assignment.strategy": "range"},
            **takeover_configs(self._member),
            **PATIENT_FETCH,  # assigned all at once; its deadlines run on its own clock
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
            with contextlib.suppress(KafkaException):
                self._consumer.close()
                self._producer.flush(10)

    def positions(self) -> dict[int, int]:
        """The next offset of ``sluice.runs`` it will read, per partition it owns."""
        return {partition: part.runs_offset for partition, part in list(self._parts.items())}

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
            error = msg.error()
            if error is not None and is_fatal(error):
                raise KafkaException(error)
            if error is None:
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
        pending = {(t.run_id, t.stage): t for t in timers_for(state, self._start_timeout_ms)}
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
            TIMER_FIRED.labels(_FIRED[timer.kind]).inc()
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
            for timer in timers_for(state, self._start_timeout_ms):
                if timer.due_ms <= now:
                    heapq.heappush(self._heap, timer)
                    self._current[(timer.run_id, timer.stage)] = timer
