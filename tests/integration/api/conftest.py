"""One Sluice deployment for the API tests, on the real services, isolated by name: the
whole topic catalogue under a prefix of its own, a fresh PostgreSQL schema, the trigger
processor as a child process, decider, timers and every registered projection in threads,
and the API served by uvicorn in a thread (a second API process is started by the tests
that need two).

Starting faust and joining consumer groups costs seconds, so the deployment serves the
whole folder (package scope: it stops after the folder's last test); every test isolates
itself with its own pipeline and repository.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from fastapi import FastAPI
from psycopg import sql

from orchestrator.api import ApiSettings
from orchestrator.api.tokens import create_token
from orchestrator.ui import create_web_app
from projections.decider import Decider
from projections.migrate import migrate
from projections.projector import READ_MODEL, Projector
from projections.registry import REGISTERED
from projections.runner import ProjectionRunner
from projections.timers import TimerWorker
from schemas.settings import ServiceSettings
from schemas.topics import topic_configs, with_prefix
from tests.support.leftovers import delete_topics_under, remember_topic_prefix
from tests.support.ports import free_port
from tests.support.waiting import eventually
from tests.unit.triggers.gitrepos import GitRepo

PIPELINE = """
name: api-test
stages:
  build:
    script: ["make build"]
  test:
    needs: [build]
    script: ["make test"]
"""


ARTIFACT_LIMIT = 1024 * 1024


@dataclass
class Served:
    """An app served by uvicorn in a thread."""

    app: FastAPI
    port: int
    server: uvicorn.Server = field(init=False)
    thread: threading.Thread = field(init=False)

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        eventually(lambda: self.server.started, timeout=30, what="uvicorn to start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(settings: ServiceSettings, api: ApiSettings, **kw: Any) -> Served:
    """Serve a new API app on a free port."""
    port = free_port()
    served = Served(create_web_app(settings, api.with_address("127.0.0.1", port), **kw), port)
    served.start()
    return served


@dataclass
class Deployment:
    """The session's deployment: where things are and how to reach them."""

    settings: ServiceSettings
    api_settings: ApiSettings
    schema: str
    served: Served
    admin_token: str
    env: dict[str, str]
    tmp: Path
    trigger_processor: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.served.url

    @contextlib.contextmanager
    def trigger_processor_paused(self) -> Iterator[None]:
        """The trigger processor stopped (SIGSTOP) for the block: requests wait unanswered.
        Keep the block well under faust's 6 s session, or its group rebalances."""
        assert self.trigger_processor is not None
        self.trigger_processor.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.trigger_processor.send_signal(signal.SIGCONT)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.settings.pg_dsn, autocommit=True, options=f"-c search_path={self.schema}"
        )

    def appended(self, topic: str) -> int:
        """How many messages ``topic`` (this deployment's, by its catalogue name) holds."""
        from confluent_kafka import TopicPartition  # noqa: PLC0415

        from schemas.eventlog import consumer  # noqa: PLC0415

        name = self.settings.topic_prefix + topic
        c = consumer(self.settings, group="api-tests-counter")
        try:
            meta = c.list_topics(name, timeout=10).topics[name]
            return sum(
                c.get_watermark_offsets(TopicPartition(name, p), timeout=10, cached=False)[1]
                for p in meta.partitions
            )
        finally:
            c.close()

    def token(self, *scopes: str, pipelines: tuple[str, ...] = ()) -> str:
        with self.connect() as conn:
            made = create_token(
                conn, name=f"t-{uuid.uuid4().hex[:6]}", scopes=scopes, pipelines=pipelines
            )
        return made.secret


@dataclass
class Pipeline:
    """A test's own pipeline, registered through the API, on a fresh repository."""

    pipeline_id: str
    repo: GitRepo
    sha: str
    webhook_secret: str


def _create_topics(admin: AdminClient, prefix: str) -> None:
    topics = [
        NewTopic(t.name, t.partitions, 1, config=topic_configs(t)) for t in with_prefix(prefix)
    ]
    for future in admin.create_topics(topics, request_timeout=60).values():
        future.result()


@pytest.fixture(scope="package")
def deployment(
    kafka_admin: AdminClient, pg_conninfo: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    tag = uuid.uuid4().hex[:10]
    prefix, schema = remember_topic_prefix(f"t{tag}."), f"t_api_{tag}"
    tmp = tmp_path_factory.mktemp("api")
    settings = replace(ServiceSettings.from_env(), topic_prefix=prefix)
    _create_topics(kafka_admin, prefix)
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        migrate(conn, schema=schema)
    key = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_PG_SCHEMA": schema,
        "SLUICE_CACHE_DIR": str(tmp / "cache"),
        "SLUICE_STATE_DIR": str(tmp / "state"),
        "SLUICE_SECRETS_KEY": key,
        "SLUICE_API_RATE": "1000",
        "SLUICE_API_BURST": "1000",
        "SLUICE_ARTIFACT_MAX_BYTES": str(ARTIFACT_LIMIT),
    }
    with (tmp / "triggers.log").open("wb") as out:
        triggers = subprocess.Popen(
            [sys.executable, "-m", "projections.triggers"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stop = threading.Event()
    decider = Decider(settings=settings, prefix=prefix, worker_id="api-tests")
    workers = [
        decider.run,
        TimerWorker(settings=settings, prefix=prefix).run,
        Projector(settings, prefix=prefix, schema=schema).run,
        *(
            ProjectionRunner(p, settings, prefix=prefix, schema=schema).run
            for p in REGISTERED
            if p is not READ_MODEL
        ),
    ]
    threads = [threading.Thread(target=w, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    # Tokens and pipelines kept for an hour: only PostgreSQL's change notices can drop them,
    # so every test that changes one checks that its notice arrives.
    api_settings = replace(
        ApiSettings.from_env(env), cron_interval_s=0.5, gc_interval_s=3600.0, row_cache_s=3600.0
    )
    served = serve(settings, api_settings)
    with psycopg.connect(pg_conninfo, autocommit=True, options=f"-c search_path={schema}") as c:
        admin = create_token(c, name="admin", scopes=["admin"]).secret
    eventually(decider.ready.is_set, timeout=60, what="the decider to own partitions")
    deployment = Deployment(settings, api_settings, schema, served, admin, env, tmp, triggers)
    _warm_up(deployment)
    yield deployment
    served.stop()
    stop.set()
    triggers.send_signal(signal.SIGTERM)
    try:
        triggers.wait(30)
    except subprocess.TimeoutExpired:
        triggers.kill()
    for t in threads:
        t.join(30)
    delete_topics_under(kafka_admin, [prefix])
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def runners(deployment: Deployment) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start ``sluice runner`` processes of the deployment (each a new runner id); all are
    gone after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        runner_id = f"runner-{uuid.uuid4().hex[:8]}"
        log = deployment.tmp / f"{runner_id}.log"
        with log.open("wb") as out:
            args = [sys.executable, "-c", _MAIN, "runner", "--runner-id", runner_id]
            proc = subprocess.Popen(args, env=deployment.env, stdout=out, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def register(deployment: Deployment, root: Path, text: str = PIPELINE) -> Pipeline:
    """Register a pipeline whose repository holds ``text`` as its pipeline file."""
    repo = GitRepo(root / "repo")
    sha = repo.commit({"pipeline.yaml": text})
    pid = f"p-{uuid.uuid4().hex[:8]}"
    secret = uuid.uuid4().hex
    body = {"pipeline_id": pid, "name": pid, "repo_url": repo.url, "webhook_secret": secret}
    with deployment.client() as http:
        response = http.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    return Pipeline(pid, repo, sha, secret)


def _warm_up(deployment: Deployment) -> None:
    """Wait until the trigger processor answers (faust takes seconds to start)."""
    warm = register(deployment, deployment.tmp / "warm-up")
    body = {"branch": "main", "commit_sha": warm.sha}
    with deployment.client() as http:
        eventually(
            lambda: (
                http.post(f"/pipelines/{warm.pipeline_id}/runs", json=body).status_code
                in (200, 201)
            ),
            timeout=90,
            what="the trigger processor to answer",
        )


@pytest.fixture
def pipeline(deployment: Deployment, tmp_path: Path) -> Pipeline:
    """A pipeline of this test's own, registered through the API, with one commit."""
    return register(deployment, tmp_path)


@pytest.fixture
def trigger(deployment: Deployment, pipeline: Pipeline) -> Callable[..., httpx.Response]:
    """POST a run of the test's pipeline (at its commit on main unless told otherwise)."""

    def post(token: str | None = None, **body: Any) -> httpx.Response:
        payload = {"branch": "main", "commit_sha": pipeline.sha, **body}
        with deployment.client(token) as http:
            return http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=payload)

    return post
