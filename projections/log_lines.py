"""The searchable log read model: every line of every attempt's log, from ``sluice.logs``.

Each attempt's :class:`LogChunk` records (one key, so one partition, in seq order) are joined
and cut at ``\\n``: a finished line becomes a row of ``log_lines`` (run, stage, attempt,
1-based line number, the line, when it was logged), the unfinished rest waits in
``log_line_tails`` until the next chunk, or is written as the last line by the final one.
Line numbers are those of the log text the API serves. The chunks were masked by the runner
before they left it, so the rows hold no secret. A trigram index (``pg_trgm``) serves the
searches of :mod:`orchestrator.api.log_search`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.domain.records import LogChunk
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import LOGS

__all__ = ["LOG_LINES", "NUL_SHOWN", "Tail", "cut_lines", "write_log_lines"]

Key = tuple[str, str, int]  # run_id, stage, attempt
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


def write_log_lines(conn: Conn, events: Sequence[Event]) -> None:
    """Fold the batch's chunks into lines; write the lines and the tails they leave."""
    chunks = [e.record for e in events if isinstance(e.record, LogChunk)]
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


LOG_LINES = Projection(
    name="log_lines",
    topics=(LOGS.name,),
    handler=write_log_lines,
    tables=("log_lines", "log_line_tails"),
    records=frozenset({"LogChunk"}),
)
