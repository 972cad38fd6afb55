"""The API's one follower of ``sluice.runs``: it resolves the requests waiting for the
trigger processor's answer (``RunCreated`` / ``RunDeduplicated`` / ``RunRejected``).

The follower starts at the partitions' end offsets before the API serves, and keeps the
last answers it saw, so a waiter that registers just after its request was produced (and
answered) still finds its answer.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from orchestrator.domain import RunCreated, RunDeduplicated, RunRejected
from orchestrator.wire import WireError, decode_record
from schemas.codec import SchemaError
from schemas.eventlog import EventLogUnavailable, consumer, end_offsets, take_batch
from schemas.settings import ServiceSettings
from schemas.topics import RUNS

__all__ = ["Answer", "Located", "RunsFollower", "Waiter"]

_log = logging.getLogger(__name__)
_RECENT = 20_000  # answers kept for waiters that register late
Answer = RunCreated | RunDeduplicated | RunRejected


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
        self._waiters: dict[str, Waiter] = {}
        self._recent: OrderedDict[str, Located] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Position at the end of every partition, then follow in a daemon thread."""
        c = consumer(self._settings, group=f"sluice-api-{uuid.uuid4().hex}")
        _await_metadata(c, self.topic)
        parts = list(range(RUNS.partitions))
        ends = end_offsets(c, self.topic, parts)
        c.assign([TopicPartition(self.topic, p, ends[p]) for p in parts])
        self._thread = threading.Thread(target=self._run, args=(c,), daemon=True, name="runs")
        self._thread.start()

    def stop(self) -> None:
        """Stop following (waits for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def expect(self, *keys: str) -> Waiter:
        """A waiter resolved by the first answer naming any of ``keys`` (run/request ids)."""
        waiter = Waiter()
        with self._lock:
            for key in keys:
                self._waiters[key] = waiter
                if key in self._recent:
                    waiter.resolve(self._recent[key])
        return waiter

    def forget(self, *keys: str) -> None:
        """Drop the waiter of ``keys``."""
        with self._lock:
            for key in keys:
                self._waiters.pop(key, None)

    def _run(self, c: Consumer) -> None:
        try:
            while not self._stop.is_set():
                for msg in take_batch(c, 500, timeout=0.1):
                    if msg.error() is None:
                        self._offer(msg.value() or b"", msg.partition() or 0, msg.offset() or 0)
        finally:
            c.close()

    def _offer(self, value: bytes, partition: int, offset: int) -> None:
        try:
            event = decode_record(value)
        except (SchemaError, WireError) as e:
            _log.warning("skipping an unreadable record on %s: %s", self.topic, e)
            return
        if not isinstance(event, Answer):
            return
        key = event.request_id if isinstance(event, RunDeduplicated) else event.run_id
        located = Located(event, partition, offset)
        with self._lock:
            self._recent[key] = located
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.resolve(located)
