"""Session-wide connections to the real services, and per-test isolation by name.

Each test that needs a service asks for its fixture; the fixture connects once per session
to what infra/ started. Tests isolate themselves by name: their own topic prefix, consumer
group, PostgreSQL schema and object-key prefix. In CI an unreachable service fails.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator

import docker
import httpx
import psycopg
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from minio import Minio
from psycopg import sql

from projections.migrate import migrate
from schemas.eventlog import TopicNames
from schemas.settings import ServiceSettings
from schemas.topics import with_prefix
from tests.support.leftovers import (
    LEDGERS,
    remember_topic_prefix,
    session_ledger,
    sweep_dead_sessions,
)
from tests.support.services import require
from tests.support.waiting import eventually


@pytest.fixture(scope="session", autouse=True)
def _leftover_topics_deleted() -> Iterator[None]:
    """Topics of sessions killed mid-run go at the start; this session's own at its end."""
    if any(p.stem != str(session_ledger.pid) for p in LEDGERS.glob("*.prefixes")):
        _sweep(lambda admin: sweep_dead_sessions(admin, LEDGERS))
    yield
    if session_ledger.prefixes():
        _sweep(lambda admin: session_ledger.sweep(admin, keep=True))


def _sweep(how: Callable[[AdminClient], list[str]]) -> None:
    admin = AdminClient({"bootstrap.servers": ServiceSettings.from_env().kafka_bootstrap})
    try:
        how(admin)
    except KafkaException as e:  # the ledger stays; the next session tries again
        warnings.warn(f"leftover test topics not deleted: {e}", stacklevel=1)


@pytest.fixture(autouse=True)
def _sluice_environment_restored() -> Iterator[None]:
    """A test that changes a ``SLUICE_*`` variable for good (``os.environ`` instead of
    ``monkeypatch.setenv``) points every later test at its schema or state: it errors."""
    before = {k: v for k, v in os.environ.items() if k.startswith("SLUICE_")}
    yield
    after = {k: v for k, v in os.environ.items() if k.startswith("SLUICE_")}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        for k in changed:  # put it back, so that one test's leak fails only that test
            if k in before:
                os.environ[k] = before[k]
            else:
                del os.environ[k]
        pytest.fail(f"the test left {', '.join(changed)} changed; use monkeypatch.setenv")


@pytest.fixture(scope="session")
def settings() -> ServiceSettings:
    return ServiceSettings.from_env()


@pytest.fixture(scope="session")
def kafka_admin(settings: ServiceSettings) -> AdminClient:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    require("Kafka", lambda: admin.list_topics(timeout=10))
    return admin


@pytest.fixture
def unique() -> str:
    """A short id that names this test's own topics, groups, schemas and keys."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(unique: str) -> str:
    return remember_topic_prefix(f"t{unique}.")


@pytest.fixture(scope="session")
def pg_conninfo(settings: ServiceSettings) -> str:
    require("PostgreSQL", lambda: psycopg.connect(settings.pg_dsn, connect_timeout=5).close())
    return settings.pg_dsn


@pytest.fixture
def pg_schema(pg_conninfo: str, unique: str) -> Iterator[str]:
    """A fresh schema with every migration applied, dropped after the test."""
    schema = f"t_{unique}"
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        migrate(conn, schema=schema)
    yield schema
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg(pg_conninfo: str, pg_schema: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection whose search_path is this test's own schema."""
    with psycopg.connect(pg_conninfo, options=f"-c search_path={pg_schema}") as conn:
        yield conn


@pytest.fixture(scope="session")
def minio_client(settings: ServiceSettings) -> Minio:
    client = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    require("MinIO", lambda: client.bucket_exists(settings.artifact_bucket))
    return client


@pytest.fixture(scope="session")
def docker_client(settings: ServiceSettings) -> docker.DockerClient:
    client = docker.DockerClient(base_url=settings.docker_host)
    require("Docker engine", client.ping)
    return client


@pytest.fixture(scope="session")
def prometheus(settings: ServiceSettings) -> str:
    require(
        "Prometheus",
        lambda: httpx.get(f"{settings.prometheus_url}/-/ready", timeout=5).raise_for_status(),
    )
    return settings.prometheus_url


@pytest.fixture
def make_topic(kafka_admin: AdminClient, topic_prefix: str) -> Iterator[Callable[..., str]]:
    """Create a topic named with this test's prefix; every one made is deleted afterwards."""
    made: list[str] = []

    def create(name: str, *, partitions: int = 1) -> str:
        full = topic_prefix + name
        futures = kafka_admin.create_topics([NewTopic(full, partitions, 1)], request_timeout=30)
        futures[full].result()
        made.append(full)
        return full

    yield create
    if made:
        for future in kafka_admin.delete_topics(made, request_timeout=30).values():
            future.result()


@pytest.fixture
def topics(kafka_admin: AdminClient, topic_prefix: str) -> Iterator[TopicNames]:
    """Every catalogue topic under this test's prefix (few partitions: tests are small)."""
    made = [NewTopic(t.name, min(t.partitions, 3), 1) for t in with_prefix(topic_prefix)]
    for future in kafka_admin.create_topics(made, request_timeout=30).values():
        future.result()
    names = {t.topic for t in made}
    eventually(
        lambda: names <= set(kafka_admin.list_topics(timeout=10).topics), what="topic metadata"
    )
    yield TopicNames(topic_prefix)
    for future in kafka_admin.delete_topics([t.topic for t in made]).values():
        future.result()
