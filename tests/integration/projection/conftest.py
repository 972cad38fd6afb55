"""The log topics of one test, and projector workers run in threads against its schema."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from orchestrator.domain.events import RunEvent
from orchestrator.wire import encode_event, encode_record
from projections.projector import READ_MODEL, Projector
from projections.runner import wait_until
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings
from schemas.topics import PIPELINES, RUNS

Position = tuple[int, int]  # (partition, offset)


@dataclass
class Log:
    """This test's ``sluice.runs`` and ``sluice.pipelines``, and a way to append to them."""

    settings: ServiceSettings
    prefix: str
    written: list[Position] = field(default_factory=list)

    @property
    def runs(self) -> str:
        return TopicNames(self.prefix).runs

    def publish(self, events: list[RunEvent]) -> list[Position]:
        """Append ``events`` to sluice.runs, keyed by run id, in order; their positions."""
        return self._send(self.runs, [(e.run_id, encode_event(e)) for e in events])

    def publish_raw(self, key: str, value: bytes) -> list[Position]:
        """Append raw bytes to sluice.runs (a malformed message, say)."""
        return self._send(self.runs, [(key, value)])

    def publish_pipeline(self, pipeline_id: str, record: object) -> list[Position]:
        """Append a pipeline record to sluice.pipelines."""
        return self._send(TopicNames(self.prefix).pipelines, [(pipeline_id, encode_record(record))])

    def _send(self, topic: str, messages: list[tuple[str, bytes]]) -> list[Position]:
        positions: list[Position] = []
        p = producer(self.settings)

        def delivered(error: object, msg: object) -> None:
            assert error is None, error
            positions.append((msg.partition(), msg.offset()))  # type: ignore[attr-defined]

        for key, value in messages:
            p.produce(topic, key=key.encode(), value=value, on_delivery=delivered)
        assert p.flush(30) == 0, "Kafka did not acknowledge every message"
        self.written += positions
        return positions

    def wait_applied(
        self,
        pg: psycopg.Connection[tuple[object, ...]],
        *,
        timeout: float = 20,
        projection: str = READ_MODEL.name,
    ) -> None:
        """Wait until ``projection`` has applied everything written to sluice.runs so far."""
        last: dict[int, int] = {}
        for partition, offset in self.written:
            last[partition] = max(offset, last.get(partition, -1))
        for partition, offset in last.items():
            wait_until(pg, projection, self.runs, partition, offset, timeout=timeout)


@pytest.fixture
def log(make_topic: Callable[..., str], settings: ServiceSettings, topic_prefix: str) -> Log:
    make_topic(RUNS.name, partitions=RUNS.partitions)
    make_topic(PIPELINES.name, partitions=PIPELINES.partitions)
    return Log(settings, topic_prefix)


@dataclass
class Worker:
    """A projector running in a thread."""

    projector: Projector
    stop: threading.Event
    thread: threading.Thread

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the projector did not stop"


@pytest.fixture
def start_projector(
    settings: ServiceSettings, topic_prefix: str, pg_schema: str
) -> Iterator[Callable[[], Worker]]:
    """Start a projector worker on this test's topics and schema; all are stopped after."""
    workers: list[Worker] = []

    def start() -> Worker:
        projector = Projector(settings, prefix=topic_prefix, schema=pg_schema)
        stop = threading.Event()
        thread = threading.Thread(target=projector.run, args=(stop,), daemon=True)
        thread.start()
        workers.append(Worker(projector, stop, thread))
        return workers[-1]

    yield start
    for worker in workers:
        worker.halt()
