"""Reads of the dead-letters read model (``projections/dead_letters.py``) for the routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from orchestrator.api.queries import Conn, Row

__all__ = ["DeadLetterFilter", "attempts_of", "dead_letter", "dead_letters"]

# the pipeline comes with the DeadLetter record; until it is read, from the run's row
_SELECT = sql.SQL(
    "SELECT d.dead_letter_id, d.run_id, d.stage, d.attempt,"
    " coalesce(d.pipeline_id, r.pipeline_id) AS pipeline_id, d.reason, d.failure_class,"
    " d.infrastructure_failures, d.dead_at, d.status, d.resolved_by, d.resolved_reason,"
    " d.resolved_at FROM dead_letters d LEFT JOIN pipeline_runs r ON r.run_id = d.run_id"
)


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: of a pipeline, whose reason contains text, older than an age."""

    pipeline_id: str | None = None
    reason: str | None = None
    older_than_ms: int | None = None
    status: str | None = "dead"
    pipelines: frozenset[str] = frozenset()  # a token's pipelines (empty: every one)
    limit: int = 500


def dead_letters(conn: Conn, f: DeadLetterFilter) -> list[Row]:
    """The dead letters matching ``f``, oldest first."""
    where, params = _where(f)
    query = sql.SQL("{} WHERE {} ORDER BY d.dead_at, d.dead_letter_id LIMIT {}").format(
        _SELECT, sql.SQL(" AND ").join(where), sql.Literal(f.limit)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _where(f: DeadLetterFilter) -> tuple[list[sql.Composable], list[Any]]:
    pipeline = sql.SQL("coalesce(d.pipeline_id, r.pipeline_id)")
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if f.status:
        where.append(sql.SQL("d.status = %s"))
        params.append(f.status)
    if f.pipeline_id:
        where.append(sql.SQL("{} = %s").format(pipeline))
        params.append(f.pipeline_id)
    if f.pipelines:
        where.append(sql.SQL("{} = ANY(%s)").format(pipeline))
        params.append(sorted(f.pipelines))
    if f.reason:
        where.append(sql.SQL("d.reason ILIKE %s"))
        params.append(f"%{f.reason}%")
    if f.older_than_ms is not None:
        where.append(sql.SQL("d.dead_at < %s"))
        params.append(datetime.now(UTC) - timedelta(milliseconds=f.older_than_ms))
    return where, params


def dead_letter(conn: Conn, dead_letter_id: str) -> Row | None:
    """One dead letter by id."""
    query = sql.SQL("{} WHERE d.dead_letter_id = %s").format(_SELECT)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, (dead_letter_id,)).fetchone()


def attempts_of(conn: Conn, letter: Row) -> list[Row]:
    """The infrastructure failures that led to ``letter``: since the stage's previous one."""
    query = (
        "SELECT attempt, reason, runner_id, exit_code, failed_at FROM dead_letter_attempts"
        " WHERE run_id = %(run)s AND stage = %(stage)s AND attempt <= %(attempt)s"
        " AND attempt > coalesce((SELECT max(attempt) FROM dead_letters WHERE run_id = %(run)s"
        " AND stage = %(stage)s AND attempt < %(attempt)s), 0) ORDER BY attempt"
    )
    params = {"run": letter["run_id"], "stage": letter["stage"], "attempt": letter["attempt"]}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query.encode(), params).fetchall()
