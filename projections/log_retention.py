"""Which attempts' lines leave ``log_lines``: archives, expiries and the projection's clock.

Part of the ``log_lines`` fold (:mod:`projections.log_lines`). ``LogArchived`` and
``LogExpired`` of ``sluice.runs`` keep ``log_archives`` (one row per attempt: where its
archive is, when it was FIRST archived, when it expired). An attempt is *trimmed* — its
lines and tail deleted, its later chunks skipped — once its log expired or it was archived
more than the retention before the clock. The clock is the newest ``occurred_at_ms`` the
projection folded (``log_lines_clock``), never the wall clock.

Why a replay gives the same rows although it interleaves ``sluice.logs`` and ``sluice.runs``
differently: being trimmed only ever turns true (the clock only grows, the first archive time
only falls, an expiry stays), chunks of one attempt arrive in order on one partition, and a
trimmed attempt ends with no rows whatever came before. So at the same offsets every
attempt is either whole or gone, on every replay.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.domain.events import LogArchived, LogExpired
from schemas.pg import Conn

__all__ = ["Key", "LogLinesSettings", "advance_clock", "record_archives", "trim", "trimmed"]

Key = tuple[str, str, int]  # run_id, stage, attempt
_WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class LogLinesSettings:
    """How long the lines of an archived log stay searchable (``SLUICE_*`` variables)."""

    retention_s: float = _WEEK_S  # what sluice.logs keeps, so a replay can rebuild them

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LogLinesSettings:
        """Read ``SLUICE_LOG_LINES_RETENTION`` (seconds after an attempt's log is archived)."""
        return cls(retention_s=float(env.get("SLUICE_LOG_LINES_RETENTION", cls.retention_s)))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def record_archives(conn: Conn, events: Iterable[LogArchived | LogExpired]) -> None:
    """Keep each archive (its first time) and each expiry, in log order."""
    with conn.cursor() as cur:
        for e in events:
            key = (e.run_id, e.stage, e.attempt, e.storage_path)
            if isinstance(e, LogArchived):
                cur.execute(
                    "INSERT INTO log_archives (run_id, stage, attempt, storage_path, size_bytes,"
                    " lines, archived_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (run_id, stage, attempt) DO UPDATE SET"
                    " storage_path = EXCLUDED.storage_path, size_bytes = EXCLUDED.size_bytes,"
                    " lines = EXCLUDED.lines,"
                    " archived_at = least(log_archives.archived_at, EXCLUDED.archived_at)",
                    (*key, e.size_bytes, e.lines, _at(e.occurred_at_ms)),
                )
            else:
                cur.execute(
                    "INSERT INTO log_archives (run_id, stage, attempt, storage_path, expired_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id, stage, attempt) DO UPDATE"
                    " SET expired_at = coalesce(log_archives.expired_at, EXCLUDED.expired_at)",
                    (*key, _at(e.occurred_at_ms)),
                )


def advance_clock(conn: Conn, newest_ms: int | None) -> int | None:
    """Move the clock to ``newest_ms`` if that is later; the clock (None before any event)."""
    if newest_ms is None:
        row = conn.execute("SELECT clock_ms FROM log_lines_clock").fetchone()
    else:
        row = conn.execute(
            "INSERT INTO log_lines_clock (clock_ms) VALUES (%s) ON CONFLICT (id)"
            " DO UPDATE SET clock_ms = greatest(log_lines_clock.clock_ms, EXCLUDED.clock_ms)"
            " RETURNING clock_ms",
            (newest_ms,),
        ).fetchone()
    return None if row is None else int(row[0])


def trimmed(conn: Conn, keys: Sequence[Key]) -> set[Key]:
    """Those of ``keys`` whose lines have left (their chunks are skipped)."""
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT run_id, stage, attempt FROM log_archives WHERE trimmed AND (run_id, stage,"
        " attempt) IN (SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]))",
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
    ).fetchall()
    return {(r, s, a) for r, s, a in rows}


def trim(conn: Conn, clock_ms: int | None, retention_ms: int) -> None:
    """Delete the lines and tails of attempts expired or archived before the retention."""
    if clock_ms is None:
        return
    conn.execute(
        "WITH due AS (SELECT run_id, stage, attempt FROM log_archives"
        "  WHERE NOT trimmed AND archived_at < %s UNION SELECT run_id, stage, attempt"
        "  FROM log_archives WHERE NOT trimmed AND expired_at IS NOT NULL),"
        " gone AS (UPDATE log_archives a SET trimmed = true FROM due d WHERE a.run_id ="
        "  d.run_id AND a.stage = d.stage AND a.attempt = d.attempt"
        "  RETURNING a.run_id, a.stage, a.attempt),"
        " lines AS (DELETE FROM log_lines l USING gone g WHERE l.run_id = g.run_id"
        "  AND l.stage = g.stage AND l.attempt = g.attempt)"
        " DELETE FROM log_line_tails t USING gone g WHERE t.run_id = g.run_id"
        "  AND t.stage = g.stage AND t.attempt = g.attempt",
        (_at(clock_ms - retention_ms),),
    )
