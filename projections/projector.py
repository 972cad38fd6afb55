"""The read model: ``sluice.runs`` and ``sluice.pipelines`` into PostgreSQL, on the runner.

:data:`READ_MODEL` is a :class:`~projections.runner.Projection`; exactly once, reconnects,
lag and ``wait_until`` are the runner's. Its handler, :func:`write_batch`, loads the rows a
batch touches with one query per table (none for a run the batch creates:
:func:`rows_to_load`), folds the batch in memory with :mod:`projections.read_model` (pure),
and writes back with one upsert per changed row, all sent together in pipeline mode: one
round trip to load and one to save, where COPY into temporary tables took ten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from operator import attrgetter
from typing import Any

from psycopg import Cursor, sql

from orchestrator.domain import records
from orchestrator.domain.events import RunCreated
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

__all__ = ["READ_MODEL", "TABLES", "Projector", "rows_to_load", "write_batch"]

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
    runs, pipes = rows_to_load(events)
    if not runs and not pipes:
        return  # every run of the batch begins in it: nothing stored to fold into
    with conn.pipeline():  # the queries go out together: one round trip, not three
        pipelines = _select(conn, "pipelines", PipelineRow, "pipeline_id", pipes)
        run_rows = _select(conn, "pipeline_runs", RunRow, "run_id", runs)
        stage_rows = _select(conn, "stages", StageRow, "run_id", runs)
    for row in _fetched(pipelines):
        model.pipelines[row[0]] = PipelineRow(*row)
    for row in _fetched(run_rows):
        model.runs[row[0]] = RunRow(*row)
    for row in _fetched(stage_rows):
        model.stages.setdefault(row[0], {})[row[1]] = StageRow(*row)


def rows_to_load(events: Iterable[Any]) -> tuple[list[str], list[str]]:
    """The runs and the pipelines whose stored rows a batch of ``events`` folds into.

    A run whose ``RunCreated`` is in the batch is not among them: that record is its first
    on ``sluice.runs`` (the decider, its one writer, creates a run once, and a run's records
    share its partition), so no row of it is stored yet. Under a burst of triggers most
    batches hold only new runs and load nothing.
    """
    created: set[str] = set()
    runs: set[str] = set()
    pipes: set[str] = set()
    for e in events:
        if isinstance(e, RunCreated):
            created.add(e.run_id)
        elif isinstance(e, _PIPELINE_RECORDS):
            pipes.add(e.pipeline_id)
        if hasattr(e, "run_id") and e.run_id not in created:
            runs.add(e.run_id)
    return sorted(runs), sorted(pipes)


def _select(conn: Conn, table: str, row: type[Any], key: str, ids: list[str]) -> Cursor[Any] | None:
    return conn.execute(_select_query(table, columns(row), key), (ids,)) if ids else None


def _fetched(cur: Cursor[Any] | None) -> list[Any]:
    return [] if cur is None else cur.fetchall()


@cache
def _select_query(table: str, cols: tuple[str, ...], key: str) -> bytes:
    # Rendered once: composing it anew cost ~7 % of the projection's time under load.
    return (
        sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)")
        .format(
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.Identifier(table),
            sql.Identifier(key),
        )
        .as_bytes()
    )


def _save(conn: Conn, model: ReadModel) -> None:
    batches: dict[str, Iterable[Any]] = {
        "pipelines": model.changed_pipelines(),
        "pipeline_runs": model.changed_runs(),
        "stages": model.changed_stages(),
        "artifacts": model.artifacts.values(),
    }
    with conn.pipeline(), conn.cursor() as cur:  # every table's rows in one round trip
        for table, row_type, *_ in _TABLES:
            values = attrgetter(*columns(row_type))
            rows = [values(row) for row in batches[table]]
            if rows:
                cur.executemany(_UPSERTS[table], rows)
        if model.expired_artifacts:
            cur.executemany(
                "UPDATE artifacts SET expired_at = %s WHERE artifact_id = %s",
                [(at, i) for i, at in sorted(model.expired_artifacts.items())],
            )


def _upsert(table: str, row_type: type[Any], keys: tuple[str, ...], *, updates: bool) -> bytes:
    cols = columns(row_type)
    update = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols if c not in keys
    )
    action = sql.SQL("DO UPDATE SET {}").format(update) if updates else sql.SQL("DO NOTHING")
    return (
        sql.SQL("INSERT INTO {t} ({c}) VALUES ({v}) ON CONFLICT ({k}) {a}")
        .format(
            t=sql.Identifier(table),
            c=sql.SQL(", ").join(map(sql.Identifier, cols)),
            v=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            k=sql.SQL(", ").join(map(sql.Identifier, keys)),
            a=action,
        )
        .as_bytes()
    )


_UPSERTS = {table: _upsert(table, row, keys, updates=u) for table, row, keys, u in _TABLES}


class Projector(ProjectionRunner):
    """The read model's runner (``sluice processor projection``)."""

    def __init__(self, settings: ServiceSettings, *, prefix: str = "", schema: str = "public"):
        """Project ``prefix``'s topics into the tables of PostgreSQL ``schema``."""
        super().__init__(READ_MODEL, settings, prefix=prefix, schema=schema)
