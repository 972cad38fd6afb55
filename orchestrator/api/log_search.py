"""Searching logs, and any attempt's log, from the ``log_lines`` read model (a projection of
``sluice.logs``, :mod:`projections.log_lines`).

``GET /runs/{id}/logs?q=`` (in :mod:`orchestrator.api.logs`) searches one run;
``GET /pipelines/{id}/logs/search?q=&since=`` every run of a pipeline logged since ``since``
(default: the 7 days ``sluice.logs`` keeps). A match is a line containing ``q``, ignoring
case (``ILIKE``, served by a trigram index), returned with its run, stage, attempt and line
number, newest run first. ``attempt_text`` rebuilds one attempt's whole log from its lines
(until it is archived: then ``attempt_archive`` says where its archive is).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, TokenInfo
from schemas.pg import Conn

__all__ = [
    "NO_NUL",
    "Archive",
    "LogMatch",
    "attempt_archive",
    "attempt_text",
    "router",
    "search_run",
]

router = APIRouter(tags=["logs"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text holds no NUL: a search for one is a 422
Needle = Annotated[str, Query(min_length=1, max_length=500, pattern=NO_NUL)]
Limit = Annotated[int, Query(ge=1, le=5000)]
RETENTION = timedelta(days=7)  # what sluice.logs keeps (schemas.topics.LOGS)
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 422, 429)
}
_COLUMNS = "l.run_id, l.stage, l.attempt, l.line_no, l.line"


class LogMatch(BaseModel):
    """A log line that matched: where it is and what it says."""

    run_id: str
    stage: str
    attempt: int
    line_no: int
    line: str


def like_pattern(q: str) -> str:
    """``q`` as an ILIKE pattern matching lines that contain it literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_run(
    conn: Conn, run_id: str, q: str, *, stage: str | None = None, limit: int = 1000
) -> list[LogMatch]:
    """The lines of ``run_id`` (one stage's with ``stage``) containing ``q``, in order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM log_lines l WHERE l.run_id = %s AND l.line ILIKE %s"
        " AND (%s::text IS NULL OR l.stage = %s)"
        " ORDER BY l.stage, l.attempt, l.line_no LIMIT %s",
        (run_id, like_pattern(q), stage, stage, limit),
    ).fetchall()
    return [_match(r) for r in rows]


def search_pipeline(
    conn: Conn, pipeline_id: str, q: str, *, since: datetime, limit: int
) -> list[LogMatch]:
    """The lines of ``pipeline_id``'s runs logged since ``since`` containing ``q``."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM log_lines l JOIN pipeline_runs r USING (run_id)"
        " WHERE r.pipeline_id = %s AND l.line ILIKE %s AND l.logged_at >= %s"
        " ORDER BY r.created_at DESC, l.run_id, l.stage, l.attempt, l.line_no LIMIT %s",
        (pipeline_id, like_pattern(q), since, limit),
    ).fetchall()
    return [_match(r) for r in rows]


class Archive(BaseModel):
    """Where an attempt's archived log is, and when it expired (if it did)."""

    storage_path: str
    expired_at: datetime | None


def attempt_archive(conn: Conn, run_id: str, stage: str, attempt: int) -> Archive | None:
    """The archive of one attempt's log (None if it was never archived)."""
    row = conn.execute(
        "SELECT storage_path, expired_at FROM log_archives WHERE run_id = %s AND stage = %s"
        " AND attempt = %s AND (archived_at IS NOT NULL OR expired_at IS NOT NULL)",
        (run_id, stage, attempt),
    ).fetchone()
    return None if row is None else Archive(storage_path=row[0], expired_at=row[1])


def attempt_text(conn: Conn, run_id: str, stage: str, attempt: int) -> str | None:
    """The whole log of one attempt (None if it logged nothing)."""
    lines = conn.execute(
        "SELECT line FROM log_lines WHERE run_id = %s AND stage = %s AND attempt = %s"
        " ORDER BY line_no",
        (run_id, stage, attempt),
    ).fetchall()
    tail = conn.execute(
        "SELECT partial FROM log_line_tails WHERE run_id = %s AND stage = %s AND attempt = %s",
        (run_id, stage, attempt),
    ).fetchone()
    if tail is None and not lines:
        return None
    return "".join(f"{line}\n" for (line,) in lines) + (tail[0] if tail else "")


@router.get("/pipelines/{pipeline_id}/logs/search", responses=_ERRORS)
def search_pipeline_logs(
    pipeline_id: str,
    *,
    q: Needle,
    token: Reader,
    ctx: Ctx,
    since: datetime | None = None,
    limit: Limit = 500,
) -> list[LogMatch]:
    """Lines containing ``q`` in the pipeline's runs since ``since`` (default 7 days ago)."""
    visible(token, pipeline_id)
    start = since or datetime.now(UTC) - RETENTION
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")
        return search_pipeline(conn, pipeline_id, q, since=start, limit=limit)


def _match(row: Any) -> LogMatch:
    run_id, stage, attempt, line_no, line = row
    return LogMatch(run_id=run_id, stage=stage, attempt=attempt, line_no=line_no, line=line)
