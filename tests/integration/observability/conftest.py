"""Fixtures for the notifier tests: a runs topic, an event writer, notifiers in threads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from orchestrator.domain import (
    FailureClass,
    Priority,
    RunCreated,
    RunEvent,
    RunFailed,
    RunSucceeded,
    StageFailed,
    TriggerSource,
    parse_pipeline,
)
from orchestrator.wire import encode_event
from projections.notifier import Notifier, NotifierSettings
from projections.notify_email import SmtpSettings
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings
from tests.support.waiting import eventually

PIPELINE = "p-notify"
_YAML = "name: notify\nstages:\n  build:\n    image: debian-git:bookworm\n    script: [make]\n"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class RunsWriter:
    """Appends run events to this test's ``sluice.runs``, as the decider would."""

    settings: ServiceSettings
    topic: str
    _out: Any = field(init=False)

    def __post_init__(self) -> None:
        self._out = producer(self.settings)

    def send(self, *events: RunEvent) -> None:
        for e in events:
            self._out.produce(self.topic, key=e.run_id.encode(), value=encode_event(e))
        assert self._out.flush(10) == 0

    def created(self, pipeline_id: str = PIPELINE) -> str:
        run_id = uuid.uuid4().hex
        self.send(
            RunCreated(
                run_id=run_id,
                pipeline_id=pipeline_id,
                pipeline_name="notify",
                branch="main",
                commit_sha="c" * 40,
                repo_url="file:///nowhere",
                source=TriggerSource.API,
                priority=Priority.NORMAL,
                variables={},
                dedup_key=f"{pipeline_id}|main|{run_id}",
                stages=parse_pipeline(_YAML).stages,
                occurred_at_ms=now_ms(),
            )
        )
        return run_id

    def succeeded(self, run_id: str) -> None:
        self.send(RunSucceeded(run_id=run_id, occurred_at_ms=now_ms()))

    def failed(self, run_id: str) -> None:
        self.send(
            StageFailed(
                run_id=run_id,
                stage="build",
                attempt=1,
                runner_id="r1",
                exit_code=2,
                failure_class=FailureClass.DETERMINISTIC,
                reason="exit status 2",
                occurred_at_ms=now_ms(),
            ),
            RunFailed(
                run_id=run_id,
                reason="build failed",
                failed_stages=("build",),
                occurred_at_ms=now_ms(),
            ),
        )


@pytest.fixture
def runs(
    settings: ServiceSettings, make_topic: Callable[..., str], topic_prefix: str
) -> RunsWriter:
    make_topic("sluice.runs")
    return RunsWriter(settings, TopicNames(topic_prefix).runs)


@pytest.fixture
def db(pg_conninfo: str, pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection on this test's schema (subscriptions, deliveries, attempts)."""
    with psycopg.connect(pg_conninfo, autocommit=True, options=f"-c search_path={pg_schema}") as c:
        yield c


@dataclass
class Running:
    notifier: Notifier
    stop: threading.Event
    thread: threading.Thread

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def start_notifier(
    settings: ServiceSettings, topic_prefix: str, pg_schema: str
) -> Iterator[Callable[..., Running]]:
    """Start a notifier on this test's topics and schema (fast back-off); all stopped at the end."""
    started: list[Running] = []

    def start(smtp_port: int = 25, smtp_login: tuple[str, str] = ("", "")) -> Running:
        user, password = smtp_login
        smtp = SmtpSettings(port=smtp_port, sender="sluice@test", username=user, password=password)
        config = NotifierSettings(
            public_url="http://sluice.test",
            smtp=smtp,
            backoff_base_s=0.2,
            backoff_cap_s=1.0,
            idle_poll_s=0.05,
        )
        notifier = Notifier(settings, prefix=topic_prefix, schema=pg_schema, config=config)
        stop = threading.Event()
        thread = threading.Thread(target=notifier.run, args=(stop,), daemon=True)
        thread.start()
        eventually(notifier.ready.is_set, timeout=60, what="the notifier to own its partition")
        running = Running(notifier, stop, thread)
        started.append(running)
        return running

    yield start
    for r in started:
        r.close()
