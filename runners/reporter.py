"""Where a runner's reports go: ``sluice.inbox`` (keyed by run), ``sluice.logs`` (keyed by
attempt), ``sluice.audit`` (keyed by subject) and ``sluice.tests`` (keyed by pipeline).

Sends are asynchronous (a background thread serves delivery reports) except
:meth:`KafkaReporter.report_acknowledged`, which waits until Kafka has the message: the
runner commits a job's offset only once its ``StageClaimed`` is acknowledged.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message

from orchestrator.domain.events import RunEvent
from orchestrator.domain.records import AuditEvent, LogChunk, TestOutcomesReported
from runners.messages import encode
from schemas.eventlog import EventLogUnavailable, TopicNames, append_acknowledged, producer
from schemas.settings import ServiceSettings

__all__ = ["KafkaReporter", "Reporter", "Written"]

_ACK_TIMEOUT_S = 30.0
Written = tuple[str, int, int]  # where Kafka put a record: topic, partition, offset


class Reporter(Protocol):
    """What an attempt reports to."""

    def report(self, event: RunEvent) -> None:
        """Send a run event to the inbox (asynchronously)."""

    def report_acknowledged(self, event: RunEvent) -> None:
        """Send a run event and wait until Kafka has it."""

    def log(self, chunk: LogChunk) -> None:
        """Send a log chunk."""

    def audit(self, event: AuditEvent) -> None:
        """Send an audit event and wait until Kafka has it."""

    def tests(self, event: TestOutcomesReported) -> Written:
        """Send a report's test outcomes, wait until Kafka has them; where they were put."""


class KafkaReporter:
    """A :class:`Reporter` over one idempotent producer."""

    def __init__(self, settings: ServiceSettings, *, prefix: str) -> None:
        """Produce to the topics of ``prefix`` on the Kafka of ``settings``."""
        self._topics = TopicNames(prefix)
        tuning: dict[str, Any] = {"linger.ms": 5, "compression.type": "lz4"}
        self._producer = producer(settings, **tuning)
        self._failed: KafkaError | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._serve, name="reporter", daemon=True)
        self._poller.start()

    def report(self, event: RunEvent) -> None:
        """Send ``event`` to the inbox, keyed by its run."""
        self._send(self._topics.inbox, event.run_id, encode(event))

    def report_acknowledged(self, event: RunEvent) -> None:
        """Send ``event`` to the inbox and wait for Kafka's acknowledgement."""
        topic, key = self._topics.inbox, event.run_id
        append_acknowledged(self._producer, topic, key, encode(event), timeout_s=_ACK_TIMEOUT_S)

    def log(self, chunk: LogChunk) -> None:
        """Send a log chunk keyed ``run_id/stage/attempt``."""
        key = f"{chunk.run_id}/{chunk.stage}/{chunk.attempt}"
        self._send(self._topics.logs, key, encode(chunk))

    def audit(self, event: AuditEvent) -> None:
        """Send an audit event keyed by its subject and wait for Kafka's acknowledgement
        (a secret is handed to a stage only once its read is on record)."""
        topic, key = self._topics.audit, event.subject
        append_acknowledged(self._producer, topic, key, encode(event), timeout_s=_ACK_TIMEOUT_S)

    def tests(self, event: TestOutcomesReported) -> Written:
        """Send test outcomes keyed by their pipeline (one ordered history per pipeline) and
        wait for Kafka's acknowledgement; the topic, partition and offset they were put at."""
        topic, key = self._topics.tests, event.pipeline_id
        partition, offset = append_acknowledged(
            self._producer, topic, key, encode(event), timeout_s=_ACK_TIMEOUT_S
        )
        return topic, partition, offset

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every message sent so far is delivered."""
        if self._producer.flush(timeout_s) > 0:
            raise EventLogUnavailable("Kafka did not take every report in time; is it up?")
        if self._failed is not None:
            raise EventLogUnavailable(f"Kafka refused a report: {self._failed}")

    def close(self) -> None:
        """Deliver what is pending and stop the delivery thread."""
        try:
            self.flush()
        finally:
            self._stop.set()
            self._poller.join()

    def _send(self, topic: str, key: str, value: bytes, **kw: Any) -> None:
        kw.setdefault("on_delivery", self._delivered)
        while True:
            try:
                self._producer.produce(topic, value, key.encode(), **kw)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)
            except KafkaException as e:
                raise EventLogUnavailable(f"cannot send to {topic}: {e}") from e

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._failed = err

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)
