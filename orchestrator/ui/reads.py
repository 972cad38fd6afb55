"""Reads of the read model that only the pages need (the API's own are in
``orchestrator.api.queries``, which the pages use for everything else)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["busy_runners", "last_runs_per_branch", "runs", "test_results"]

Conn = psycopg.Connection[Any]
Row = dict[str, Any]


def _all(conn: Conn, query: str, params: tuple[Any, ...]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query.encode(), params).fetchall()


def _scope(pipelines: Collection[str], column: str = "pipeline_id") -> tuple[str, list[Any]]:
    """A condition limiting rows to ``pipelines`` (empty: a token that sees every one)."""
    if not pipelines:
        return "true", []
    return f"{column} = ANY(%s)", [list(pipelines)]


def last_runs_per_branch(conn: Conn, pipelines: Collection[str]) -> list[Row]:
    """The newest run of every (pipeline, branch), by pipeline then newest first."""
    where, params = _scope(pipelines)
    return _all(
        conn,
        "SELECT * FROM (SELECT DISTINCT ON (pipeline_id, branch) * FROM pipeline_runs"
        f" WHERE {where} ORDER BY pipeline_id, branch, created_at DESC, run_id DESC) last"
        " ORDER BY pipeline_id, created_at DESC",
        tuple(params),
    )


def runs(
    conn: Conn,
    pipelines: Collection[str],
    *,
    limit: int,
    pipeline: str | None = None,
    status: str | None = None,
    branch: str | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[Row]:
    """Up to ``limit`` runs the token may see, newest first, filtered and after a cursor."""
    where, params = _scope(pipelines)
    conds = [where]
    for column, value in (("pipeline_id", pipeline), ("status", status), ("branch", branch)):
        if value:
            conds.append(f"{column} = %s")
            params.append(value)
    if after is not None:
        conds.append("(created_at, run_id) < (%s, %s)")
        params.extend(after)
    query = (
        f"SELECT * FROM pipeline_runs WHERE {' AND '.join(conds)}"
        " ORDER BY created_at DESC, run_id DESC LIMIT %s"
    )
    return _all(conn, query, (*params, limit))


def busy_runners(conn: Conn, pipelines: Collection[str]) -> list[Row]:
    """Stages running now, with their runner, oldest first."""
    where, params = _scope(pipelines, "r.pipeline_id")
    return _all(
        conn,
        "SELECT s.runner_id, s.run_id, s.name, s.attempt, s.started_at, r.pipeline_id"
        " FROM stages s JOIN pipeline_runs r USING (run_id)"
        f" WHERE s.status = 'running' AND {where} ORDER BY s.started_at",
        tuple(params),
    )


def test_results(conn: Conn, run_id: str) -> list[Row]:
    """Per stage attempt with a test report: passed and failed counts, the failed names."""
    return _all(
        conn,
        "SELECT stage, attempt, count(*) FILTER (WHERE passed) AS passed,"
        " count(*) FILTER (WHERE NOT passed) AS failed,"
        " coalesce(array_agg(test_name ORDER BY test_name) FILTER (WHERE NOT passed), '{}')"
        " AS failures FROM test_outcomes WHERE run_id = %s"
        " GROUP BY stage, attempt ORDER BY stage, attempt",
        (run_id,),
    )
