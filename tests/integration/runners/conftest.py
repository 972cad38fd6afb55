"""Fixtures for runner tests: the prefixed catalogue topics, a source repository, a runner
in a thread, hand-made jobs fed to the job topics, and readers of what the runner reports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from cryptography.fernet import Fernet
from minio import Minio
from psycopg import sql

from orchestrator.domain.events import RunCreated, StageCancelled
from orchestrator.domain.jobs import Job, job_id
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority, TriggerSource
from projections.decider import Decider
from projections.timers import TimerSettings, TimerWorker
from runners.config import RunnerConfig
from runners.job_queue import channel_of
from runners.main import run
from runners.messages import decode, encode
from schemas.eventlog import TopicNames, producer
from schemas.pg import connect
from schemas.settings import ServiceSettings
from tests.support.claim_echo import ClaimEcho
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Repo:
    """A local git repository with one commit."""

    url: str
    sha: str


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("repo")
    (root / "hello.txt").write_text("hello from the checkout\n")

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
        return out.stdout.decode().strip()

    git("init", "--quiet", "--initial-branch=main")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "first")
    return Repo(str(root), git("rev-parse", "HEAD"))


@pytest.fixture
def runner_config(
    tmp_path: Path,
    pg_schema: str,
    topic_prefix: str,
    minio_client: Minio,
    settings: ServiceSettings,
) -> Iterator[RunnerConfig]:
    """The config of this test's runners; the objects they store are removed afterwards."""
    config = RunnerConfig(
        state_dir=tmp_path / "state",
        secrets_key=Fernet.generate_key().decode(),
        pg_schema=pg_schema,
        key_prefix=f"tests/{topic_prefix}",
    )
    yield config
    for bucket in (settings.artifact_bucket, settings.log_bucket):
        for obj in minio_client.list_objects(bucket, config.key_prefix, recursive=True):
            minio_client.remove_object(bucket, obj.object_name or "")


@pytest.fixture
def claim_echo(settings: ServiceSettings, topics: TopicNames) -> Iterator[ClaimEcho]:
    """Accepts every claim as the decider would (tests with the real decider turn it off)."""
    echo = ClaimEcho(settings, topics)
    yield echo
    echo.stop()


@pytest.fixture
def start_runner(
    settings: ServiceSettings,
    topics: TopicNames,
    runner_config: RunnerConfig,
    claim_echo: ClaimEcho,
) -> Iterator[Callable[..., str]]:
    """Start a runner in a thread; every one started is stopped after the test."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(*, slots: int = 1, config: RunnerConfig = runner_config) -> str:
        claim_echo.start()
        runner_id = f"runner-{uuid.uuid4().hex[:8]}"
        stop = threading.Event()
        kwargs = {"prefix": topics.prefix, "slots": slots, "runner_id": runner_id}
        thread = threading.Thread(
            target=run, args=(settings,), kwargs={**kwargs, "stop": stop, "config": config}
        )
        thread.start()
        started.append((stop, thread))
        return runner_id

    yield start
    for stop, _ in started:
        stop.set()
    for _, thread in started:
        thread.join(timeout=60)


def make_job(repo: Repo, *, stage: StageSpec, run_id: str | None = None, **kw: Any) -> Job:
    run_id = run_id or f"run-{uuid.uuid4().hex[:8]}"
    attempt = kw.pop("attempt", 1)
    fields: dict[str, Any] = {
        "job_id": job_id(run_id, stage.name, attempt),
        "run_id": run_id,
        "pipeline_id": "pipe-1",
        "stage": stage,
        "attempt": attempt,
        "priority": Priority.NORMAL,
        "repo_url": repo.url,
        "commit_sha": repo.sha,
        "branch": "main",
        "lease_ms": 60_000,
        "enqueued_at_ms": 0,
    }
    return Job(**{**fields, **kw})


@pytest.fixture
def send_job(settings: ServiceSettings, topics: TopicNames) -> Callable[[Job], None]:
    p = producer(settings)

    def send(job: Job) -> None:
        p.produce(topics.job(job.priority), encode(job), job.run_id.encode())
        assert p.flush(10) == 0

    return send


@dataclass
class TopicReader:
    """Everything on one topic, decoded, read so far (call :meth:`read` to catch up)."""

    consumer: Consumer
    raw: list[bytes] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)

    def read(self) -> list[Any]:
        for msg in self.consumer.consume(1000, timeout=0.2):
            if msg.error() is None and (value := msg.value()) is not None:
                self.raw.append(value)
                self.records.append(decode(value))
        return self.records

    def of(self, kind: type, **match: Any) -> list[Any]:
        return [
            r
            for r in self.read()
            if isinstance(r, kind) and all(getattr(r, k) == v for k, v in match.items())
        ]


@pytest.fixture
def read_topic(
    settings: ServiceSettings, kafka_admin: AdminClient
) -> Iterator[Callable[[str], TopicReader]]:
    consumers: list[Consumer] = []

    def reader(topic: str) -> TopicReader:
        c = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        partitions = kafka_admin.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        consumers.append(c)
        return TopicReader(c)

    yield reader
    for c in consumers:
        c.close()


def append(settings: ServiceSettings, topic: str, record: Any) -> None:
    """Append a run's ``record`` to ``topic``, keyed by its run."""
    p = producer(settings)
    p.produce(topic, encode(record), record.run_id.encode())
    assert p.flush(10) == 0


@dataclass(frozen=True)
class Rig:
    """What a runner test drives: start runners, send jobs, read topics, cancel runs."""

    settings: ServiceSettings
    topics: TopicNames
    repo: Repo
    config: RunnerConfig
    start: Callable[..., str]
    send: Callable[[Job], None]
    read: Callable[[str], TopicReader]

    def job(self, stage: StageSpec, **kw: Any) -> Job:
        """A job of ``stage`` on the test repository."""
        return make_job(self.repo, stage=stage, **kw)

    def cancel_as_the_decider(self, job: Job, runner_id: str, reason: str) -> None:
        """Cancel ``job``'s attempt as the decider does when a person cancels its run: the
        ``StageCancelled`` on sluice.runs, and its copy to the runner holding the attempt."""
        cancelled = StageCancelled(
            run_id=job.run_id,
            occurred_at_ms=0,
            stage=job.stage.name,
            attempt=job.attempt,
            reason=reason,
        )
        append(self.settings, self.topics.runs, cancelled)
        p = producer(self.settings)
        p.produce(self.topics.runner_notices, encode(cancelled), runner_id.encode())
        assert p.flush(10) == 0

    def append_to_inbox(self, record: Any) -> None:
        """Send ``record`` to sluice.inbox, as the trigger processor or a person would."""
        append(self.settings, self.topics.inbox, record)


@pytest.fixture
def rig(
    *,
    settings: ServiceSettings,
    topics: TopicNames,
    repo: Repo,
    runner_config: RunnerConfig,
    start_runner: Callable[..., str],
    send_job: Callable[[Job], None],
    read_topic: Callable[[str], TopicReader],
) -> Rig:
    return Rig(settings, topics, repo, runner_config, start_runner, send_job, read_topic)


@pytest.fixture
def orchestration(
    rig: Rig, claim_echo: ClaimEcho, request: pytest.FixtureRequest
) -> Iterator[None]:
    """The real decider and timers on this test's topics (a test may give the timers
    its own settings: ``@pytest.mark.parametrize("orchestration", [TimerSettings(...)],
    indirect=True)``)."""
    claim_echo.wanted = False  # the real decider accepts (or refuses) the claims
    own = getattr(request, "param", None) or TimerSettings()
    stop = threading.Event()
    decider = Decider(settings=rig.settings, prefix=rig.topics.prefix, worker_id="t")
    timers = TimerWorker(settings=rig.settings, prefix=rig.topics.prefix, own=own)
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in (decider, timers)]
    for t in threads:
        t.start()
    eventually(decider.ready.is_set, timeout=60, what="the decider to own its partitions")
    eventually(timers.ready.is_set, timeout=60, what="the timers to own their partitions")
    yield
    stop.set()
    for t in threads:
        t.join(60)


CLI = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


def start_runner_process(rig: Rig, runner_id: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLUICE_STATE_DIR": str(rig.config.state_dir),
        "SLUICE_SECRETS_KEY": rig.config.secrets_key or "",
        "SLUICE_PG_SCHEMA": rig.config.pg_schema,
    }
    args = ["runner", "--prefix", rig.topics.prefix, "--runner-id", runner_id]
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def run_created(
    rig: Rig, run_id: str, stages: tuple[StageSpec, ...], *, at_ms: int | None = None
) -> RunCreated:
    """A run of ``stages`` on the test repository, created now (or at ``at_ms``)."""
    return RunCreated(
        run_id=run_id,
        pipeline_id="pipe-1",
        pipeline_name="p",
        branch="main",
        commit_sha=rig.repo.sha,
        repo_url=rig.repo.url,
        source=TriggerSource.API,
        priority=Priority.NORMAL,
        variables={},
        dedup_key=run_id,
        stages=stages,
        occurred_at_ms=time.time_ns() // 1_000_000 if at_ms is None else at_ms,
    )


def announcements_before_a_witness(pg_conninfo: str, schema: str, listen: Callable[[], Any]) -> int:
    """How many notifications of the job queue's channel a connection listening on it gets
    while ``listen()`` runs, counted up to one a witness sends after it (a listener gets the
    channel's notifications in commit order, so none sent earlier is still on its way once the
    witness's arrived)."""
    channel = channel_of(schema)
    with connect(pg_conninfo, schema=schema, name="listener") as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        listen()
        with connect(pg_conninfo, schema=schema, name="witness") as witness:
            pid = witness.info.backend_pid
            witness.execute("SELECT pg_notify(%s, '')", (channel,))
        for before, note in enumerate(listener.notifies(timeout=30)):
            if note.pid == pid:
                return before
    raise AssertionError("the witness's notification never arrived")
