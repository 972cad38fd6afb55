"""Reads of the PostgreSQL read model (runs, stages, pipelines, artifacts) for the routes."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from schemas.errors import DomainError

__all__ = [
    "BadCursor",
    "aliased_run",
    "artifact",
    "artifacts_of",
    "decode_cursor",
    "deployment_to_restore",
    "deployments_of",
    "encode_cursor",
    "environments",
    "pipeline",
    "pipeline_async",
    "pipelines",
    "run",
    "run_page",
    "stages_of",
]

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
_PIPELINE_COLUMNS = (
    "pipeline_id, name, repo_url, config_path, default_branch, priority, created_at, updated_at"
)


class BadCursor(DomainError):
    """A ``cursor`` that this API did not hand out; start again without one."""


def _one(conn: Conn, query: str, params: tuple[Any, ...]) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query.encode(), params).fetchone()


def _all(conn: Conn, query: str, params: tuple[Any, ...]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query.encode(), params).fetchall()


_PIPELINE = (
    f"SELECT {_PIPELINE_COLUMNS} FROM pipelines WHERE pipeline_id = %s AND deleted_at IS NULL"
)


def pipeline(conn: Conn, pipeline_id: str) -> Row | None:
    """The live (not deleted) pipeline ``pipeline_id``."""
    return _one(conn, _PIPELINE, (pipeline_id,))


async def pipeline_async(conn: AsyncConn, pipeline_id: str) -> Row | None:
    """:func:`pipeline` on an asyncio connection."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PIPELINE.encode(), (pipeline_id,))
        return await cur.fetchone()


def pipelines(conn: Conn) -> list[Row]:
    """Every live pipeline, by id."""
    return _all(
        conn,
        f"SELECT {_PIPELINE_COLUMNS} FROM pipelines WHERE deleted_at IS NULL ORDER BY pipeline_id",
        (),
    )


def run(conn: Conn, run_id: str) -> Row | None:
    """The run ``run_id`` (without stages)."""
    return _one(conn, "SELECT * FROM pipeline_runs WHERE run_id = %s", (run_id,))


def aliased_run(conn: Conn, requested_run_id: str) -> str | None:
    """The run a deduplicated request accepted as ``requested_run_id`` became, if any."""
    row = _one(
        conn, "SELECT run_id FROM request_aliases WHERE requested_run_id = %s", (requested_run_id,)
    )
    return None if row is None else str(row["run_id"])


def stages_of(conn: Conn, run_id: str) -> list[Row]:
    """The stages of ``run_id`` in declaration order, each with its attempt's ``tests``."""
    stages = _all(conn, "SELECT * FROM stages WHERE run_id = %s ORDER BY position", (run_id,))
    tests = _all(
        conn,
        "SELECT stage, attempt, test_name, passed, duration_ms FROM test_outcomes"
        " WHERE run_id = %s ORDER BY stage, test_name",
        (run_id,),
    )
    for stage in stages:
        stage["tests"] = [
            t for t in tests if t["stage"] == stage["name"] and t["attempt"] == stage["attempt"]
        ]
    return stages


def encode_cursor(created_at: datetime, run_id: str) -> str:
    """The opaque cursor after the run created at ``created_at`` with id ``run_id``."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{run_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; :class:`BadCursor` if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        when, run_id = text.split("|", 1)
        return datetime.fromisoformat(when), run_id
    except (binascii.Error, UnicodeError, ValueError) as e:
        raise BadCursor(f"cursor {cursor!r} is not valid; omit it to start at the newest") from e


def run_page(
    conn: Conn,
    pipeline_id: str,
    *,
    limit: int,
    status: str | None = None,
    branch: str | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[Row]:
    """Up to ``limit`` runs of ``pipeline_id``, newest first, after the cursor position."""
    where, params = ["pipeline_id = %s"], list[Any]([pipeline_id])
    for column, value in (("status", status), ("branch", branch)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if after is not None:
        where.append("(created_at, run_id) < (%s, %s)")
        params.extend(after)
    query = (
        f"SELECT * FROM pipeline_runs WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, run_id DESC LIMIT %s"
    )
    return _all(conn, query, (*params, limit))


def artifact(conn: Conn, artifact_id: str) -> Row | None:
    """The artifact ``artifact_id`` with its run's pipeline id."""
    return _one(
        conn,
        "SELECT a.*, r.pipeline_id FROM artifacts a JOIN pipeline_runs r USING (run_id)"
        " WHERE a.artifact_id = %s",
        (artifact_id,),
    )


def artifacts_of(conn: Conn, run_id: str) -> list[Row]:
    """Every artifact of ``run_id``."""
    return _all(
        conn, "SELECT * FROM artifacts WHERE run_id = %s ORDER BY created_at, name", (run_id,)
    )


_DEPLOYMENTS = (
    "SELECT d.deployment_id, d.environment, d.run_id, r.pipeline_id, d.stage, d.attempt,"
    " d.strategy, d.image, d.replicas, d.started_at, d.finished_at, d.outcome, d.reason,"
    " d.rolled_back_to, d.paused_step, d.paused_reason"
    " FROM deployments d LEFT JOIN pipeline_runs r ON r.run_id = d.run_id"
)


def environments(conn: Conn) -> list[Row]:
    """Every environment with the pipelines that deployed to it, by name."""
    return _all(
        conn,
        "SELECT e.name, e.current_image, e.current_deployment_id, e.last_deployment_id,"
        " e.updated_at, array_remove(array_agg(DISTINCT r.pipeline_id), NULL) AS pipelines,"
        " EXISTS (SELECT 1 FROM protected_environments p WHERE p.name = e.name) AS protected"
        " FROM environments e JOIN deployments d ON d.environment = e.name"
        " LEFT JOIN pipeline_runs r ON r.run_id = d.run_id GROUP BY e.name ORDER BY e.name",
        (),
    )


def deployments_of(conn: Conn, environment: str, limit: int) -> list[Row]:
    """The environment's deployments, newest first."""
    return _all(
        conn,
        f"{_DEPLOYMENTS} WHERE d.environment = %s ORDER BY d.started_at DESC LIMIT %s",
        (environment, limit),
    )


def deployment(conn: Conn, environment: str, deployment_id: str) -> Row | None:
    """One deployment of ``environment``, as the history lists it."""
    return _one(
        conn,
        f"{_DEPLOYMENTS} WHERE d.environment = %s AND d.deployment_id = %s",
        (environment, deployment_id),
    )


def under_way(conn: Conn, environment: str) -> Row | None:
    """The environment's deployment under way (running or paused), if any."""
    return _one(
        conn,
        f"{_DEPLOYMENTS} WHERE d.environment = %s AND d.outcome IN ('running', 'paused')"
        " ORDER BY d.started_at DESC LIMIT 1",
        (environment,),
    )


def deployment_to_restore(conn: Conn, environment: str, to: str | None) -> Row | None:
    """The succeeded deployment a rollback redeploys: ``to``, or the latest one whose image
    is not what the environment runs now."""
    if to is not None:
        return _one(
            conn,
            f"{_DEPLOYMENTS_FULL} WHERE d.environment = %s AND d.deployment_id = %s"
            " AND d.outcome = 'succeeded'",
            (environment, to),
        )
    return _one(
        conn,
        f"{_DEPLOYMENTS_FULL} JOIN environments e ON e.name = d.environment"
        " WHERE d.environment = %s AND d.outcome = 'succeeded'"
        " AND d.image IS DISTINCT FROM e.current_image ORDER BY d.finished_at DESC LIMIT 1",
        (environment,),
    )


_DEPLOYMENTS_FULL = (
    "SELECT d.deployment_id, d.image, d.replicas, d.port, d.health_check_path, d.run_id,"
    " r.pipeline_id, r.branch, r.commit_sha FROM deployments d"
    " JOIN pipeline_runs r ON r.run_id = d.run_id"
)
