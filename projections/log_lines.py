"""The searchable log read model: every line of every attempt's log, from ``sluice.logs``.

Each attempt's :class:`LogChunk` records (one key, so one partition, in seq order) are joined
and cut at ``\\n``: a finished line becomes a row of ``log_lines`` (run, stage, attempt,
1-based line number, the line, when it was logged), the unfinished rest waits in
``log_line_tails`` until the next chunk, or is written as the last line by the final one.
Line numbers are those of the log text the API serves. The chunks were masked by the runner
before they left it, so the rows hold no secret. A trigram index (``pg_trgm``) serves the
searches of :mod:`orchestrator.api.log_search`.

The projection also reads ``LogArchived`` / ``LogExpired`` of ``sluice.runs``: every attempt's
archive is listed in ``log_archives``, and the lines of an attempt leave once its log expired
or was archived longer ago than ``SLUICE_LOG_LINES_RETENTION`` (:mod:`projections.log_retention`,
driven by event time, so a replay trims the same lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.domain.events import LogArchived, LogExpired
from orchestrator.domain.records import LogChunk
from projections.log_retention import (
    Key,
    LogLinesSettings,
    advance_clock,
    record_archives,
    trim,
    trimmed,
)
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import LOGS, RUNS

__all__ = [
    "LOG_LINES",
    "NUL_SHOWN",
    "LogLinesSettings",
    "Tail",
    "cut_lines",
    "log_lines_projection",
    "write_log_lines",
]

_DEFAULT_RETENTION_MS = int(LogLinesSettings().retention_s * 1000)
NUL_SHOWN = "\ufffd"  # what a NUL byte of the output becomes in a stored line
Line = tuple[str, str, int, int, str, datetime]


@dataclass(frozen=True, slots=True)
class Tail:
    """Where an attempt's log stands: its next line number and the unfinished line."""

    next_line: int = 1
    partial: str = ""


def cut_lines(tail: Tail, data: str, *, final: bool) -> tuple[list[str], Tail]:
    """The lines ``data`` finishes after ``tail``, and the tail that remains."""
    parts = (tail.partial + data).split("\n")
    done, rest = parts[:-1], parts[-1]
    if final and rest:
        done, rest = [*done, rest], ""
    return [d.removesuffix("\r") for d in done], Tail(tail.next_line + len(done), rest)


def write_log_lines(
    conn: Conn, events: Sequence[Event], *, retention_ms: int = _DEFAULT_RETENTION_MS
) -> None:
    """Fold the batch: archives and expiries, then the chunks of attempts still kept into
    lines and tails, then trim what the clock now puts beyond ``retention_ms``."""
    records = [e.record for e in events]
    archives = [r for r in records if isinstance(r, LogArchived | LogExpired)]
    chunks = [r for r in records if isinstance(r, LogChunk)]
    if not archives and not chunks:
        return  # the other records of sluice.runs change nothing here
    record_archives(conn, archives)
    clock = advance_clock(conn, max(r.occurred_at_ms for r in (*archives, *chunks)))
    gone = trimmed(conn, sorted({_key(c) for c in chunks}))
    _write_chunks(conn, [c for c in chunks if _key(c) not in gone])
    trim(conn, clock, retention_ms)


def _write_chunks(conn: Conn, chunks: list[LogChunk]) -> None:
    if not chunks:
        return
    tails = _load_tails(conn, sorted({_key(c) for c in chunks}))
    lines: list[Line] = []
    stamps: dict[Key, datetime] = {}
    for chunk in chunks:
        key, at = _key(chunk), datetime.fromtimestamp(chunk.occurred_at_ms / 1000, tz=UTC)
        data = chunk.data.replace("\x00", NUL_SHOWN)  # PostgreSQL text holds no NUL
        done, tails[key] = cut_lines(tails[key], data, final=chunk.final)
        first = tails[key].next_line - len(done)
        lines += [(*key, first + i, text, at) for i, text in enumerate(done)]
        stamps[key] = at
    with conn.cursor() as cur:
        with cur.copy(
            "COPY log_lines (run_id, stage, attempt, line_no, line, logged_at) FROM STDIN"
        ) as copy:
            for line in lines:
                copy.write_row(line)
        cur.executemany(
            "INSERT INTO log_line_tails (run_id, stage, attempt, next_line, partial, logged_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, stage, attempt) DO UPDATE"
            " SET next_line = EXCLUDED.next_line, partial = EXCLUDED.partial,"
            " logged_at = EXCLUDED.logged_at",
            [(*k, t.next_line, t.partial, stamps[k]) for k, t in tails.items() if k in stamps],
        )


def _key(chunk: LogChunk) -> Key:
    return chunk.run_id, chunk.stage, chunk.attempt


def _load_tails(conn: Conn, keys: list[Key]) -> dict[Key, Tail]:
    tails = dict.fromkeys(keys, Tail())
    if keys:
        rows = conn.execute(
            "SELECT run_id, stage, attempt, next_line, partial FROM log_line_tails"
            " WHERE (run_id, stage, attempt) IN (SELECT * FROM unnest(%s::text[], %s::text[],"
            " %s::int[]))",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
        ).fetchall()
        tails.update({(r, s, a): Tail(n, p) for r, s, a, n, p in rows})
    return tails


def log_lines_projection(settings: LogLinesSettings) -> Projection:
    """The log_lines projection keeping archived lines ``settings.retention_s`` seconds."""
    retention_ms = int(settings.retention_s * 1000)

    def handler(conn: Conn, events: Sequence[Event]) -> None:
        write_log_lines(conn, events, retention_ms=retention_ms)

    return Projection(
        name="log_lines",
        topics=(LOGS.name, RUNS.name),
        handler=handler,
        tables=("log_lines", "log_line_tails", "log_archives", "log_lines_clock"),
        # what write_log_lines folds: the rest of sluice.runs is skipped on its header
        records=frozenset(t.__name__ for t in (LogChunk, LogArchived, LogExpired)),
    )


# Read once, when the registry is loaded: `sluice processor projection` and `sluice replay`
# read the same variable, and must, for a replay to trim what the live projection trimmed.
LOG_LINES = log_lines_projection(LogLinesSettings.from_env())
