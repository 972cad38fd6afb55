"""The decider's echo of claims, for runner tests that feed hand-made jobs with no run.

A runner starts a container only once the decider tells it that it accepted its
``StageClaimed`` (a copy on ``sluice.runner-notices``). Tests of the runner alone send jobs
of runs that were never created, which the real decider would refuse; this thread copies
every ``StageClaimed`` of the inbox to ``sluice.runs`` and to the runner's notices, as the
decider does for a claim it accepts. Tests that run the real decider do not start it.
"""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import Consumer, TopicPartition

from orchestrator.domain.events import StageClaimed
from runners.messages import decode, encode
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings

__all__ = ["ClaimEcho"]


class ClaimEcho:
    """Copies ``StageClaimed`` from the inbox to ``sluice.runs`` and the runner's notices
    until :meth:`stop`."""

    def __init__(self, settings: ServiceSettings, topics: TopicNames) -> None:
        self._settings = settings
        self._topics = topics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claim-echo", daemon=True)
        self.echoed: list[StageClaimed] = []
        self.wanted = True  # a test running the real decider sets it False

    def start(self) -> None:
        """Start echoing (once), unless the test runs the real decider."""
        if self.wanted and not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        c = Consumer(
            {
                "bootstrap.servers": self._settings.kafka_bootstrap,
                "group.id": f"claim-echo-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        inbox = self._topics.inbox
        partitions = c.list_topics(inbox, timeout=10).topics[inbox].partitions
        c.assign([TopicPartition(inbox, p, 0) for p in partitions])
        p = producer(self._settings)
        try:
            while not self._stop.is_set():
                for msg in c.consume(100, timeout=0.05):
                    value = msg.value()
                    record = decode(value) if msg.error() is None and value else None
                    if isinstance(record, StageClaimed):
                        value = encode(record)
                        p.produce(self._topics.runs, value, record.run_id.encode())
                        p.produce(self._topics.runner_notices, value, record.runner_id.encode())
                        self.echoed.append(record)
                p.flush(10)
        finally:
            c.close()
