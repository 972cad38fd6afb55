"""The trigger processor as a real process on real Kafka, and what it answers on the inbox.

One catalogue of topics (under a prefix of its own) and one processor serve a whole test
module: starting faust costs a few seconds, and every test isolates itself by its own
pipeline and repository anyway.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka.admin import AdminClient, NewTopic

from orchestrator import submit
from orchestrator.domain.records import RunRequested
from orchestrator.wire import decode_event
from schemas.eventlog import TopicNames, consumer, producer
from schemas.settings import ServiceSettings
from schemas.topics import INBOX, topic_configs, with_prefix
from tests.support.leftovers import fresh_topic_prefix
from tests.support.waiting import eventually
from tests.unit.triggers.gitrepos import GitRepo

VALID_PIPELINE = """
name: backend-api-ci
stages:
  build:
    script: ["make build"]
  unit-tests:
    needs: [build]
    script: ["make test"]
  integration:
    needs: [unit-tests]
    matrix: {python: ["3.10", "3.11"]}
    script: ["make it PY=$python"]
"""


@pytest.fixture(scope="module")
def prefix(kafka_admin: AdminClient) -> Iterator[str]:
    """A topic prefix with the whole catalogue created under it; every topic under it is
    deleted afterwards (the catalogue and the processor's own changelog)."""
    name = fresh_topic_prefix("t")
    topics = [NewTopic(t.name, t.partitions, 1, config=topic_configs(t)) for t in with_prefix(name)]
    for future in kafka_admin.create_topics(topics, request_timeout=30).values():
        future.result()
    yield name
    made = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(name)]
    for future in kafka_admin.delete_topics(made, request_timeout=30).values():
        future.result()


@dataclass
class Processor:
    """``python -m projections.triggers`` in a child process."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "projections.triggers"], env=self.env, stdout=out, stderr=out
            )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def processor(
    settings: ServiceSettings, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processor]:
    cache = tmp_path_factory.mktemp("triggers-cache")
    env = {
        **os.environ,
        "SLUICE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_CACHE_DIR": str(cache),
        "SLUICE_DEDUP_SWEEP_EVERY": "1",
    }
    running = Processor(env=env, log=cache / "processor.log")
    running.start()
    yield running
    if running.proc is not None and running.proc.poll() is None:
        running.stop(signal.SIGKILL)


@dataclass
class Inbox:
    """Everything on the inbox so far, decoded; ``wait`` polls until a condition holds."""

    reader: Consumer
    answers: list[object] = field(default_factory=list)

    def drain(self) -> list[object]:
        for msg in self.reader.consume(500, timeout=0.2):
            if msg.error() is None:
                self.answers.append(decode_event(msg.value() or b""))
        return self.answers

    def about(self, ids: set[str]) -> list[object]:
        """The answers whose ``run_id`` (or, for a duplicate, ``request_id``) is in ``ids``."""
        return [
            a
            for a in self.drain()
            if getattr(a, "run_id", None) in ids or getattr(a, "request_id", None) in ids
        ]

    def wait(self, probe: Callable[[], object], *, timeout: float = 30.0) -> None:
        def check() -> object:
            self.drain()
            return probe()

        eventually(check, timeout=timeout)


@pytest.fixture(scope="module")
def inbox(settings: ServiceSettings, prefix: str) -> Iterator[Inbox]:
    reader = consumer(settings, group=f"{prefix}inbox-reader")
    topic = TopicNames(prefix).inbox
    reader.assign([TopicPartition(topic, p, 0) for p in range(INBOX.partitions)])
    yield Inbox(reader)
    reader.close()


@pytest.fixture(scope="module")
def kafka(settings: ServiceSettings) -> KafkaProducer:
    return producer(settings)


@dataclass
class Triggers:
    """One test's pipeline (registered on its own repository) and the processor's inbox."""

    kafka: KafkaProducer
    prefix: str
    inbox: Inbox
    repo: GitRepo
    pipeline_id: str

    def request(self, **fields: Any) -> RunRequested:
        """Request a run of this pipeline (on main, by ada, unless ``fields`` say otherwise)."""
        defaults = {"pipeline_id": self.pipeline_id, "branch": "main", "requested_by": "ada"}
        return submit.request_run(self.kafka, prefix=self.prefix, **{**defaults, **fields})

    def answer_to(self, run_id: str) -> object:
        """The first answer about ``run_id``, once it has come."""
        self.inbox.wait(lambda: self.inbox.about({run_id}))
        return self.inbox.about({run_id})[0]


@pytest.fixture
def triggers(
    processor: Processor, inbox: Inbox, kafka: KafkaProducer, prefix: str, tmp_path: Path
) -> Triggers:
    """A running processor, and a pipeline of this test's own on a fresh repository."""
    repo = GitRepo(tmp_path / "repo")
    pid = f"p-{uuid.uuid4().hex[:8]}"
    submit.register_pipeline(kafka, pipeline_id=pid, name=pid, repo_url=repo.url, prefix=prefix)
    return Triggers(kafka=kafka, prefix=prefix, inbox=inbox, repo=repo, pipeline_id=pid)
