"""The read model: ``sluice.runs`` and ``sluice.pipelines`` into PostgreSQL, on the runner.

:data:`READ_MODEL` is a :class:`~projections.runner.Projection`; exactly once, reconnects,
lag and ``wait_until`` are the runner's. Its handler, :func:`write_batch`, loads the rows a
batch touches with one query per table, folds the batch in memory with
:mod:`projections.read_model` (pure), and writes back with ``COPY`` into temporary tables
plus one upsert per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from psycopg import sql

from orchestrator.domain import records
from projections.read_model import (
    RECORDS,
    ArtifactRow,
    PipelineRow,
    ReadModel,
    RunRow,
    StageRow,
    apply,
    columns,
)
from projections.runner import Event, Projection, ProjectionRunner
from schemas.pg import Conn
from schemas.settings import ServiceSettings
from schemas.topics import PIPELINES, RUNS

__all__ = ["READ_MODEL", "TABLES", "Projector", "write_batch"]

_PIPELINE_RECORDS = (records.PipelineRegistered, records.PipelineUpdated, records.PipelineDeleted)

# table, row type, key columns, whether a repeated key updates the row
_TABLES: tuple[tuple[str, type[Any], tuple[str, ...], bool], ...] = (
    ("pipelines", PipelineRow, ("pipeline_id",), True),
    ("pipeline_runs", RunRow, ("run_id",), True),
    ("stages", StageRow, ("run_id", "name"), True),
    ("artifacts", ArtifactRow, ("artifact_id",), False),
)
TABLES = tuple(t[0] for t in _TABLES)


def write_batch(conn: Conn, events: Sequence[Event]) -> None:
    """Load the rows ``events`` touch, fold the events into them, and write them back."""
    model = ReadModel()
    _load(conn, model, [e.record for e in events])
    for event in events:
        apply(model, event.record)
    _save(conn, model)


READ_MODEL = Projection(
    name="read_model",
    process="projection",
    topics=(RUNS.name, PIPELINES.name),
    handler=write_batch,
    tables=TABLES,
    records=RECORDS,
)


def _load(conn: Conn, model: ReadModel, events: list[Any]) -> None:
    runs = sorted({e.run_id for e in events if hasattr(e, "run_id")})
    pipes = sorted({e.pipeline_id for e in events if isinstance(e, _PIPELINE_RECORDS)})
    if pipes:
        for row in _select(conn, "pipelines", PipelineRow, "pipeline_id", pipes):
            model.pipelines[row[0]] = PipelineRow(*row)
    if runs:
        for row in _select(conn, "pipeline_runs", RunRow, "run_id", runs):
            model.runs[row[0]] = RunRow(*row)
        for row in _select(conn, "stages", StageRow, "run_id", runs):
            model.stages.setdefault(row[0], {})[row[1]] = StageRow(*row)


def _select(conn: Conn, table: str, row: type[Any], key: str, ids: list[str]) -> list[Any]:
    query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns(row))),
        sql.Identifier(table),
        sql.Identifier(key),
    )
    return conn.execute(query, (ids,)).fetchall()


def _save(conn: Conn, model: ReadModel) -> None:
    batches: dict[str, Iterable[Any]] = {
        "pipelines": model.changed_pipelines(),
        "pipeline_runs": model.changed_runs(),
        "stages": model.changed_stages(),
        "artifacts": model.artifacts.values(),
    }
    for table, row_type, keys, updates in _TABLES:
        rows = list(batches[table])
        if rows:
            _upsert(conn, table, row_type, keys, rows, updates=updates)
    if model.expired_artifacts:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE artifacts SET expired_at = %s WHERE artifact_id = %s",
                [(at, i) for i, at in sorted(model.expired_artifacts.items())],
            )


def _upsert(
    conn: Conn,
    table: str,
    row_type: type[Any],
    keys: tuple[str, ...],
    rows: list[Any],
    *,
    updates: bool,
) -> None:
    cols = columns(row_type)
    names = sql.SQL(", ").join(map(sql.Identifier, cols))
    staging = sql.Identifier(f"in_{table}")
    conn.execute(  # per session, emptied at each commit
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(staging, sql.Identifier(table))
    )
    values = attrgetter(*cols)
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, names)) as copy:
        for row in rows:
            copy.write_row(values(row))
    update = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols if c not in keys
    )
    action = sql.SQL("DO UPDATE SET {}").format(update) if updates else sql.SQL("DO NOTHING")
    conn.execute(
        sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) {a}").format(
            t=sql.Identifier(table),
            c=names,
            s=staging,
            k=sql.SQL(", ").join(map(sql.Identifier, keys)),
            a=action,
        )
    )


class Projector(ProjectionRunner):
    """The read model's runner (``sluice processor projection``)."""

    def __init__(self, settings: ServiceSettings, *, prefix: str = "", schema: str = "public"):
        """Project ``prefix``'s topics into the tables of PostgreSQL ``schema``."""
        super().__init__(READ_MODEL, settings, prefix=prefix, schema=schema)
