"""The read-model projector: ``sluice.runs`` and ``sluice.pipelines`` into PostgreSQL.

Exactly once: each polled batch is applied in ONE PostgreSQL transaction together with the
``next_offset`` of every partition it read (table ``projection_offsets``), and on partition
assignment the consumer seeks to those stored offsets, never to Kafka's committed ones. The
transaction first locks the stored offsets and drops any message below them, so a batch
redelivered after a crash, or read by a worker that just lost the partition, changes nothing.

Speed: the rows a batch touches are loaded with one query per table, folded in memory by
:mod:`projections.read_model`, and written back with ``COPY`` into temporary tables plus one
upsert per table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from psycopg import sql

from projections import environments
from projections.lag import export_assigned_lag
from projections.migrate import migrate
from projections.read_model import (
    ArtifactRow,
    PipelineRow,
    ReadModel,
    RunRow,
    StageRow,
    apply,
    columns,
    handles,
)
from schemas.codec import SchemaError, decode
from schemas.errors import InfrastructureError
from schemas.eventlog import TopicNames, consumer
from schemas.metrics import PROCESSOR_EVENTS
from schemas.settings import ServiceSettings

__all__ = [
    "PROJECTION",
    "BatchResult",
    "ProjectionLagging",
    "ProjectionStore",
    "ProjectionUnavailable",
    "Projector",
    "connect",
    "run",
    "take_batch",
    "wait_until",
]

PROJECTION = "read_model"  # this projection's name in projection_offsets
_RECONNECT_MIN_S, _RECONNECT_MAX_S = 0.2, 5.0
_log = logging.getLogger(__name__)


class ProjectionUnavailable(InfrastructureError):
    """PostgreSQL could not be reached or refused the read model's writes; run infra/up."""


class ProjectionLagging(InfrastructureError):
    """The projection did not reach an offset in time; is `sluice processor projection` up?"""


def connect(
    settings: ServiceSettings, schema: str, *, name: str = "sluice"
) -> psycopg.Connection[Any]:
    """A connection whose ``search_path`` is ``schema`` (the read model's tables)."""
    try:
        conn = psycopg.connect(settings.pg_dsn, autocommit=True, application_name=name)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    except psycopg.Error as e:
        raise ProjectionUnavailable(f"cannot reach PostgreSQL ({e}); run infra/up") from e
    return conn


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: events applied, messages skipped as malformed, duplicates dropped."""

    applied: int
    malformed: int
    duplicates: int


_TABLES: tuple[tuple[str, type[Any], tuple[str, ...]], ...] = (
    ("pipelines", PipelineRow, ("pipeline_id",)),
    ("pipeline_runs", RunRow, ("run_id",)),
    ("stages", StageRow, ("run_id", "name")),
    ("artifacts", ArtifactRow, ("artifact_id",)),
)


class ProjectionStore:
    """Loads, folds and saves batches of messages; owns one connection (autocommit off)."""

    def __init__(self, conn: psycopg.Connection[Any], *, projection: str = PROJECTION) -> None:
        """Use ``conn`` (search_path already set) for every batch."""
        self._conn = conn
        self._projection = projection
        self._temp_ready = False

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to apply of each partition of ``topic`` that has one stored."""
        try:
            rows = self._conn.execute(
                "SELECT partition, next_offset FROM projection_offsets"
                " WHERE projection = %s AND topic = %s",
                (self._projection, topic),
            ).fetchall()
            self._conn.commit()
        except psycopg.Error as e:
            raise ProjectionUnavailable(f"cannot read the projection's offsets: {e}") from e
        return {p: o for p, o in rows}

    def apply_batch(
        self, messages: Sequence[Message], *, limits: dict[tuple[str, int], int] | None = None
    ) -> BatchResult:
        """Apply ``messages`` and their next offsets in one transaction (below ``limits`` only)."""
        try:
            with self._conn.transaction():
                return self._apply(messages, limits or {})
        except psycopg.Error as e:
            raise ProjectionUnavailable(f"cannot write the read model: {e}") from e

    def _apply(
        self, messages: Sequence[Message], limits: dict[tuple[str, int], int]
    ) -> BatchResult:
        stored = self._lock_offsets({_where(m)[0] for m in messages})
        fresh, next_offsets = _unapplied(messages, stored, limits)
        events, malformed = _decode_all(fresh)
        model = ReadModel()
        self._load(model, events)
        for record, value in events:
            apply(model, record, value)
            if environments.handles(record):
                environments.apply(self._conn, record, value)
        self._save(model)
        self._save_offsets(next_offsets)
        return BatchResult(len(events), malformed, len(messages) - len(fresh))

    def _lock_offsets(self, topics: set[str]) -> dict[tuple[str, int], int]:
        rows = self._conn.execute(
            "SELECT topic, partition, next_offset FROM projection_offsets"
            " WHERE projection = %s AND topic = ANY(%s) FOR UPDATE",
            (self._projection, sorted(topics)),
        ).fetchall()
        return {(t, p): o for t, p, o in rows}

    def _load(self, model: ReadModel, events: list[tuple[str, dict[str, Any]]]) -> None:
        runs = sorted({v["run_id"] for _, v in events if "run_id" in v})
        pipes = sorted({v["pipeline_id"] for r, v in events if r.startswith("Pipeline")})
        if pipes:
            for row in self._select("pipelines", PipelineRow, "pipeline_id", pipes):
                model.pipelines[row[0]] = PipelineRow(*row)
        if runs:
            for row in self._select("pipeline_runs", RunRow, "run_id", runs):
                model.runs[row[0]] = RunRow(*row)
            for row in self._select("stages", StageRow, "run_id", runs):
                model.stages.setdefault(row[0], {})[row[1]] = StageRow(*row)

    def _select(self, table: str, row: type[Any], key: str, ids: list[str]) -> list[Any]:
        query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns(row))),
            sql.Identifier(table),
            sql.Identifier(key),
        )
        return self._conn.execute(query, (ids,)).fetchall()

    def _save(self, model: ReadModel) -> None:
        self._ensure_temp_tables()
        batches: dict[str, Iterable[Any]] = {
            "pipelines": model.changed_pipelines(),
            "pipeline_runs": model.changed_runs(),
            "stages": model.changed_stages(),
            "artifacts": model.artifacts.values(),
        }
        for table, row_type, keys in _TABLES:
            rows = list(batches[table])
            if rows:
                self._upsert(table, row_type, keys, rows)

    def _ensure_temp_tables(self) -> None:
        if self._temp_ready:
            return
        for table, _, _ in _TABLES:
            self._conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
                    " ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(f"in_{table}"), sql.Identifier(table))
            )
        self._temp_ready = True

    def _upsert(
        self, table: str, row_type: type[Any], keys: tuple[str, ...], rows: list[Any]
    ) -> None:
        cols = columns(row_type)
        names = sql.SQL(", ").join(map(sql.Identifier, cols))
        staging = sql.Identifier(f"in_{table}")
        values = attrgetter(*cols)
        with self._conn.cursor().copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(staging, names)
        ) as copy:
            for row in rows:
                copy.write_row(values(row))
        update = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols if c not in keys
        )
        action = sql.SQL("DO NOTHING" if table == "artifacts" else "DO UPDATE SET {}").format(
            update
        )
        self._conn.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) {a}").format(
                t=sql.Identifier(table),
                c=names,
                s=staging,
                k=sql.SQL(", ").join(map(sql.Identifier, keys)),
                a=action,
            )
        )

    def _save_offsets(self, next_offsets: dict[tuple[str, int], int]) -> None:
        if not next_offsets:
            return
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO projection_offsets (projection, topic, partition, next_offset)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (projection, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [(self._projection, t, p, o) for (t, p), o in sorted(next_offsets.items())],
            )


def _unapplied(
    messages: Sequence[Message],
    stored: dict[tuple[str, int], int],
    limits: dict[tuple[str, int], int],
) -> tuple[list[Message], dict[tuple[str, int], int]]:
    """The messages not applied yet (and below their limit), and each partition's next offset."""
    fresh: list[Message] = []
    next_offsets: dict[tuple[str, int], int] = {}
    for msg in messages:
        topic, partition, offset = _where(msg)
        key = (topic, partition)
        if offset < stored.get(key, 0) or offset >= limits.get(key, offset + 1):
            continue
        fresh.append(msg)
        next_offsets[key] = offset + 1
    return fresh, next_offsets


def _where(msg: Message) -> tuple[str, int, int]:
    """topic, partition and offset of a consumed message (never None once consumed)."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


def _decode_all(messages: list[Message]) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """Decode every message; log and count, but skip, any that is not a known event."""
    events: list[tuple[str, dict[str, Any]]] = []
    malformed = 0
    for msg in messages:
        where = _where(msg)
        try:
            decoded = decode(
                msg.value() or b"", topic=where[0], partition=where[1], offset=where[2]
            )
        except SchemaError as e:  # its message names topic[partition]@offset
            _log.warning("skipping malformed message %s", e)
            malformed += 1
            continue
        if not handles(decoded.name):
            _log.warning("skipping %s at %s[%d]@%d: not a read-model event", decoded.name, *where)
            malformed += 1
            continue
        events.append((decoded.name, decoded.value))
    return events, malformed


class Projector:
    """The worker: consumes the run and pipeline topics and applies batches exactly once."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        prefix: str = "",
        schema: str = "public",
        batch_size: int = 2000,
    ) -> None:
        """Project the topics named with ``prefix`` into the tables of PostgreSQL ``schema``."""
        self._settings = settings
        self._topics = TopicNames(prefix)
        self._group = f"{prefix}sluice-projection"
        self._schema = schema
        self._batch_size = batch_size
        self.applied = 0
        self.malformed = 0
        self.duplicates = 0
        self.reconnects = 0
        self.assigned: frozenset[tuple[str, int]] = frozenset()  # (topic, partition) it owns
        self._store: ProjectionStore | None = None
        self._lag_at = 0.0

    def run(self, stop: threading.Event) -> None:
        """Migrate the schema if needed, then consume and apply until ``stop`` is set.

        A lost PostgreSQL connection is opened again (with back-off) and every partition
        the worker owns is re-read from the offset stored with the rows: nothing is lost or
        applied twice. Any other error ends the worker.
        """
        c = consumer(self._settings, group=self._group)
        pause = _RECONNECT_MIN_S
        try:
            c.subscribe(
                [self._topics.runs, self._topics.pipelines],
                on_assign=self._on_assign,
                on_revoke=lambda _, parts: self._on_revoke(parts),
            )
            while not stop.is_set():
                try:
                    self._serve(c, stop)
                except ProjectionUnavailable as e:
                    if not isinstance(e.__cause__, psycopg.OperationalError):
                        raise
                    _log.warning("read-model projection: %s; retrying in %.1f s", e, pause)
                    self.reconnects += 1
                    stop.wait(pause)
                    pause = min(pause * 2, _RECONNECT_MAX_S)
        finally:
            c.close()

    def _serve(self, c: Consumer, stop: threading.Event) -> None:
        name = f"sluice-projection {self._schema}"
        with connect(self._settings, self._schema, name=name) as conn:
            migrate(conn, schema=self._schema)
            conn.autocommit = False
            self._store = ProjectionStore(conn)
            self._rewind(c)
            while not stop.is_set():
                self._step(self._store, c)

    def _rewind(self, c: Consumer) -> None:
        """Go back to the stored offsets of the partitions owned (after a lost connection)."""
        owned = c.assignment()
        for tp in self._with_stored_offsets(owned):
            c.seek(tp)

    def _step(self, store: ProjectionStore, c: Consumer) -> None:
        batch = []
        for msg in take_batch(c, self._batch_size, timeout=0.1):
            error = msg.error()
            if error is None:
                batch.append(msg)
            elif error.code() != KafkaError._PARTITION_EOF:
                _log.warning("projection consumer: %s", error)
        if batch:
            result = store.apply_batch(batch)
            self.applied += result.applied
            self.malformed += result.malformed
            self.duplicates += result.duplicates
            PROCESSOR_EVENTS.labels("projection").inc(result.applied)
        if time.monotonic() - self._lag_at >= 5.0:
            self._lag_at = time.monotonic()
            export_assigned_lag("projection", c)

    def _on_assign(self, c: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each assigned partition at the offset stored with the rows, not Kafka's."""
        c.incremental_assign(self._with_stored_offsets(partitions))
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.assigned -= {(tp.topic, tp.partition) for tp in partitions}

    def _with_stored_offsets(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        assert self._store is not None, "callbacks only run while serving"
        stored = {t: self._store.stored_offsets(t) for t in {tp.topic for tp in partitions}}
        return [
            TopicPartition(
                tp.topic, tp.partition, stored[tp.topic].get(tp.partition, OFFSET_BEGINNING)
            )
            for tp in partitions
        ]


def take_batch(c: Consumer, size: int, *, timeout: float) -> list[Message]:
    """Up to ``size`` messages: waits up to ``timeout`` for the first, then takes only what
    is already fetched (``consume`` alone would wait out its timeout for a full batch)."""
    first = c.poll(timeout)
    if first is None:
        return []
    return [first, *c.consume(size - 1, timeout=0)] if size > 1 else [first]


def run(
    settings: ServiceSettings, *, prefix: str = "", schema: str = "public", stop: threading.Event
) -> None:
    """Run the read-model projector until ``stop`` is set (``sluice processor projection``)."""
    Projector(settings, prefix=prefix, schema=schema).run(stop)


def wait_until(
    conn: psycopg.Connection[Any], topic: str, partition: int, offset: int, timeout: float
) -> None:
    """Return once the projection has applied ``offset`` of ``topic[partition]``.

    Read-your-writes for the API and tests: after producing an event at ``offset``, rows
    read after this returns include its effect. Raises :class:`ProjectionLagging` on timeout.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        row = conn.execute(
            "SELECT next_offset FROM projection_offsets"
            " WHERE projection = %s AND topic = %s AND partition = %s",
            (PROJECTION, topic, partition),
        ).fetchone()
        if row is not None and row[0] > offset:
            return
        if time.monotonic() >= deadline:
            reached = "nothing" if row is None else f"offset {row[0] - 1}"
            raise ProjectionLagging(
                f"the read model applied {reached} of {topic}[{partition}], not {offset},"
                f" within {timeout} s; is `sluice processor projection` running?"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
