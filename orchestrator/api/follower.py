"""The API's one follower of ``sluice.runs``: it resolves the requests waiting for the
trigger processor's answer (``RunCreated`` / ``RunDeduplicated`` / ``RunRejected``).

The follower starts at the partitions' end offsets before the API serves, and keeps the
last answers it saw, so a waiter that registers just after its request was produced (and
answered) still finds its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from orchestrator.domain import RunCreated, RunDeduplicated, RunRejected
from orchestrator.wire import WireError, decode_record
from schemas.codec import SchemaError, record_name
from schemas.eventlog import (
    PATIENT_FETCH,
    EndOffsets,
    EventLogUnavailable,
    consumer,
    end_offsets,
    partition_for,
    take_batch,
)
from schemas.settings import ServiceSettings
from schemas.topics import RUNS

__all__ = ["Answer", "Located", "LoopWaiter", "RunsFollower", "Waiter"]

_log = logging.getLogger(__name__)
_RECENT = 20_000  # answers kept for waiters that register late
Answer = RunCreated | RunDeduplicated | RunRejected
# Every API process reads every record of sluice.runs (~15 a run once its stages run); only
# these are decoded, the rest are skipped on their header.
_ANSWERS = frozenset(cls.__name__ for cls in (RunCreated, RunDeduplicated, RunRejected))


@dataclass(frozen=True, slots=True)
class Located:
    """An answer and where it sits on ``sluice.runs`` (for read-your-writes)."""

    answer: Answer
    partition: int
    offset: int


class Waiter:
    """One request's wait for its answer."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.result: Located | None = None

    def resolve(self, located: Located) -> None:
        """Deliver the answer (the first one wins)."""
        if self.result is None:
            self.result = located
            self._done.set()

    def wait(self, timeout: float) -> Located | None:
        """The answer, or None after ``timeout`` seconds."""
        self._done.wait(timeout)
        return self.result


class LoopWaiter:
    """One coroutine's wait for its answer: :class:`Waiter` for the event loop (resolved from
    the follower's thread without blocking a thread of the loop's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """A wait on ``loop`` (the running one)."""
        self._loop = loop
        self._answer: asyncio.Future[Located] = loop.create_future()

    def resolve(self, located: Located) -> None:
        """Deliver the answer from any thread (the first one wins)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._settle, located)

    def _settle(self, located: Located) -> None:
        if not self._answer.done():
            self._answer.set_result(located)

    async def wait(self, timeout: float) -> Located | None:
        """The answer, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self._answer, timeout)
        except TimeoutError:
            return None


def _await_metadata(c: Consumer, topic: str, timeout: float = 30.0) -> None:
    """Wait until the client knows every partition of ``topic`` (a new topic takes a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = c.list_topics(topic, timeout=5).topics.get(topic)
        except KafkaException as e:
            raise EventLogUnavailable(f"cannot read the metadata of {topic}: {e}") from e
        if found is not None and found.error is None and len(found.partitions) == RUNS.partitions:
            return
        if time.monotonic() > deadline:
            raise EventLogUnavailable(f"{topic} does not exist with {RUNS.partitions} partitions")
        time.sleep(0.1)


class RunsFollower:
    """Tails every partition of ``sluice.runs`` from where it was when started."""

    def __init__(self, settings: ServiceSettings, *, topic: str) -> None:
        """Follow ``topic`` (the prefixed ``sluice.runs``)."""
        self.topic = topic
        self._settings = settings
        self._waiters: dict[str, Waiter | LoopWaiter] = {}
        self._recent: OrderedDict[str, Located] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._following = False
        self._consumer_group = f"sluice-api-{uuid.uuid4().hex}"
        self._ends = EndOffsets(settings, group=self._consumer_group)
        self._read: dict[int, int] = {}  # per partition, the offset the follower reads next
        self._accepted: dict[int, int] = {}  # per partition, the last RunCreated's offset

    def start(self) -> None:
        """Position at the end of every partition, then follow in a daemon thread."""
        c = consumer(self._settings, group=self._consumer_group, **PATIENT_FETCH)
        _await_metadata(c, self.topic)
        parts = list(range(RUNS.partitions))
        ends = end_offsets(c, self.topic, parts)
        c.assign([TopicPartition(self.topic, p, ends[p]) for p in parts])
        self._following, self._read = True, dict(ends)
        self._thread = threading.Thread(target=self._run, args=(c,), daemon=True, name="runs")
        self._thread.start()

    def stop(self) -> None:
        """Stop following (waits for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._ends.close()

    def expect(self, *keys: str) -> Waiter:
        """A waiter resolved by the first answer naming any of ``keys`` (run/request ids)."""
        waiter = Waiter()
        self._register(keys, waiter)
        return waiter

    def expect_on_loop(self, *keys: str) -> LoopWaiter:
        """:meth:`expect` for a coroutine on the running event loop."""
        waiter = LoopWaiter(asyncio.get_running_loop())
        self._register(keys, waiter)
        return waiter

    def _register(self, keys: tuple[str, ...], waiter: Waiter | LoopWaiter) -> None:
        with self._lock:
            for key in keys:
                self._waiters[key] = waiter
                if key in self._recent:
                    waiter.resolve(self._recent[key])

    def created(self, run_id: str, *, timeout: float) -> Located | None:
        """Where the decider accepted ``run_id`` (its ``RunCreated`` on ``sluice.runs``), if it
        did before this call: first from what was seen, else after following the run's
        partition up to its end as of now (so a run another API process answered is found
        too). None when the run was not accepted (or was accepted before this process's
        last answers began), or when the partition could not be followed within ``timeout``.
        """
        seen = self._created(run_id)
        if seen is not None or not self._following:
            return seen
        self._follow_to_end(partition_for(run_id, RUNS.partitions), timeout)
        return self._created(run_id)

    def accepted(self) -> dict[int, int]:
        """Per partition, the offset of the last ``RunCreated`` this follower has seen."""
        with self._lock:
            return dict(self._accepted)

    def _created(self, run_id: str) -> Located | None:
        with self._lock:
            found = self._recent.get(run_id)
        return found if found is not None and isinstance(found.answer, RunCreated) else None

    def _follow_to_end(self, partition: int, timeout: float) -> None:
        tp = TopicPartition(self.topic, partition)
        deadline = time.monotonic() + timeout
        try:
            end = self._ends.of(tp, timeout)
            while self._position(tp) < end and time.monotonic() < deadline:
                time.sleep(0.002)
        except KafkaException as e:
            _log.warning("cannot follow %s[%s] to its end: %s", self.topic, partition, e)

    def _position(self, tp: TopicPartition) -> int:
        with self._lock:
            return self._read.get(tp.partition, 0)

    def forget(self, *keys: str) -> None:
        """Drop the waiter of ``keys``."""
        with self._lock:
            for key in keys:
                self._waiters.pop(key, None)

    def _run(self, c: Consumer) -> None:
        parts = [TopicPartition(self.topic, p) for p in range(RUNS.partitions)]
        try:
            while not self._stop.is_set():
                for msg in take_batch(c, 500, timeout=0.05):
                    if msg.error() is None:
                        self._offer(msg.value() or b"", msg.partition() or 0, msg.offset() or 0)
                # Read here, by the polling thread: asked from another thread while this one
                # polls, the client blocks. position() counts transaction markers as read.
                read = {tp.partition: tp.offset for tp in c.position(parts) if tp.offset >= 0}
                with self._lock:
                    self._read.update(read)
        finally:
            c.close()

    def _offer(self, value: bytes, partition: int, offset: int) -> None:
        try:
            if record_name(value) not in _ANSWERS:
                return
            event = decode_record(value)
        except (SchemaError, WireError) as e:
            _log.warning("skipping an unreadable record on %s: %s", self.topic, e)
            return
        if not isinstance(event, Answer):
            return
        key = event.request_id if isinstance(event, RunDeduplicated) else event.run_id
        located = Located(event, partition, offset)
        with self._lock:
            if isinstance(event, RunCreated):
                self._accepted[partition] = max(offset, self._accepted.get(partition, -1))
            self._recent[key] = located
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.resolve(located)
