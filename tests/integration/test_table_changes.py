"""TableChanges, on the real PostgreSQL: a watcher hears each change to its table in its
schema (tokens revoked, pipelines projected), not another table's or another schema's, and
hears that the notices were lost when the listening connection is killed, then heard again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from orchestrator.api.tokens import create_token, revoke_token
from projections.migrate import migrate
from schemas.table_changes import TableChanges
from tests.support.waiting import eventually


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def changed(self) -> None:
        with self._lock:
            self.calls.append("changed")

    def heard(self, hearing: bool) -> None:
        with self._lock:
            self.calls.append(f"heard {hearing}")

    def count(self, call: str) -> int:
        with self._lock:
            return self.calls.count(call)


@pytest.fixture
def watched(pg_conninfo: str, pg_schema: str) -> Iterator[tuple[TableChanges, Recorder, Recorder]]:
    tokens, pipelines = Recorder(), Recorder()
    changes = TableChanges(pg_conninfo, schema=pg_schema, name=f"{pg_schema}-changes", retry_s=0.1)
    changes.watch("api_tokens", tokens)
    changes.watch("pipelines", pipelines)
    changes.start()
    assert changes.wait_listening(10)
    yield changes, tokens, pipelines
    changes.stop()


@pytest.fixture
def pg(pg_conninfo: str, pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the test's schema whose each statement commits (and so notifies)."""
    options = f"-c search_path={pg_schema}"
    with psycopg.connect(pg_conninfo, autocommit=True, options=options) as conn:
        yield conn


def _insert_pipeline(conn: psycopg.Connection[Any], pipeline_id: str) -> None:
    conn.execute(
        "INSERT INTO pipelines (pipeline_id, name, repo_url, created_at, updated_at)"
        " VALUES (%s, %s, 'file:///nowhere', now(), now())",
        (pipeline_id, pipeline_id),
    )


def test_a_revoked_token_is_heard_by_the_tokens_watcher_only(
    watched: tuple[TableChanges, Recorder, Recorder], pg: psycopg.Connection[Any]
) -> None:
    _, tokens, pipelines = watched
    made = create_token(pg, name="t", scopes=["read"])
    eventually(lambda: tokens.count("changed") == 1, timeout=10, what="the insert's notice")
    assert revoke_token(pg, made.token_id)
    eventually(lambda: tokens.count("changed") == 2, timeout=10, what="the revocation's notice")
    assert pipelines.count("changed") == 0


def test_a_projected_pipeline_is_heard_by_the_pipelines_watcher(
    watched: tuple[TableChanges, Recorder, Recorder], pg: psycopg.Connection[Any]
) -> None:
    _, tokens, pipelines = watched
    _insert_pipeline(pg, "p1")
    pg.execute("TRUNCATE pipelines")  # as a replay does
    eventually(lambda: pipelines.count("changed") == 2, timeout=10, what="two notices")
    assert tokens.count("changed") == 0


def test_a_change_in_another_schema_is_not_heard(
    watched: tuple[TableChanges, Recorder, Recorder],
    pg_conninfo: str,
    pg_schema: str,
    pg: psycopg.Connection[Any],
) -> None:
    _, _, pipelines = watched
    other = f"{pg_schema}_other"
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        migrate(conn, schema=other)
        try:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(other)))
            _insert_pipeline(conn, "elsewhere")
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other)))
    _insert_pipeline(pg, "here")  # notices arrive in commit order: this one comes after
    eventually(lambda: pipelines.count("changed") >= 1, timeout=10, what="this schema's notice")
    assert pipelines.count("changed") == 1


def test_a_lost_connection_is_told_then_listening_resumes(
    watched: tuple[TableChanges, Recorder, Recorder], pg_schema: str, pg: psycopg.Connection[Any]
) -> None:
    _, tokens, _ = watched
    assert tokens.calls == ["heard True"]
    pg.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"{pg_schema}-changes",),
    )
    eventually(lambda: tokens.count("heard True") == 2, timeout=10, what="listening again")
    assert tokens.calls[:3] == ["heard True", "heard False", "heard True"]
    create_token(pg, name="t", scopes=["read"])
    eventually(lambda: tokens.count("changed") == 1, timeout=10, what="a notice after it")


def test_a_table_without_its_change_trigger_is_not_heard_until_the_trigger_exists(
    pg_conninfo: str, pg_schema: str, pg: psycopg.Connection[Any]
) -> None:
    pg.execute("DROP TRIGGER pipelines_changed ON pipelines")  # as before migration 0090
    tokens, pipelines = Recorder(), Recorder()
    changes = TableChanges(pg_conninfo, schema=pg_schema, name=f"{pg_schema}-c", retry_s=0.1)
    changes.watch("api_tokens", tokens)
    changes.watch("pipelines", pipelines)
    changes.start()
    try:
        assert changes.wait_listening(10)
        assert (tokens.calls, pipelines.calls) == (["heard True"], [])
        pg.execute(
            "CREATE TRIGGER pipelines_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            " ON pipelines FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed()"
        )
        eventually(lambda: pipelines.calls == ["heard True"], timeout=10, what="heard at last")
    finally:
        changes.stop()
