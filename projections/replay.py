"""Rebuild the read model from offset 0, and check it row for row against the live one.

:func:`rebuild` replays ``sluice.runs`` and ``sluice.pipelines`` into a schema of its own
(migrated first) with the projector's own batch code, up to given offsets or to the end.
:func:`verify` (``sluice replay --verify``) reads, in one snapshot, the offsets the live
projection has committed and a copy of its tables; rebuilds into a scratch schema up to
exactly those offsets; and compares every table row for row (DESIGN invariant 4).

Known limit: ``sluice.pipelines`` is compacted. Once Kafka has compacted a segment, a pipeline
registered then updated replays from its update alone (its ``created_at`` differs), and a
deleted one from its deletion alone (no row); ``sluice.runs`` is never compacted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from psycopg import sql

from projections import environments
from projections.migrate import migrate
from projections.projector import (
    PROJECTION,
    ProjectionStore,
    ProjectionUnavailable,
    connect,
    take_batch,
)
from schemas.eventlog import EventLogUnavailable, TopicNames, consumer, end_offsets
from schemas.settings import ServiceSettings

__all__ = [
    "TABLES",
    "Progress",
    "RebuildStats",
    "TableDiff",
    "VerifyReport",
    "rebuild",
    "verify",
]

TABLES = ("pipelines", "pipeline_runs", "stages", "artifacts", *environments.TABLES)
_BATCH = 10_000
_UNKNOWN_TOPIC = KafkaError.UNKNOWN_TOPIC_OR_PART
_STALL_S = 60.0  # no new message for this long while short of a target: the log is broken

Offsets = dict[tuple[str, int], int]
Progress = Callable[[int, float], None]  # (events applied so far, seconds elapsed)


@dataclass(frozen=True)
class RebuildStats:
    """What a rebuild read and applied, and how long it took."""

    messages: int
    applied: int
    malformed: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Messages replayed per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class TableDiff:
    """One table compared: its row counts, and a few rows found on one side only."""

    table: str
    columns: tuple[str, ...]
    live_rows: int
    replayed_rows: int
    only_live: list[tuple[Any, ...]] = field(default_factory=list)
    only_replayed: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """No row differs."""
        return not self.only_live and not self.only_replayed


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``replay --verify``."""

    scratch_schema: str
    offsets: Offsets
    stats: RebuildStats
    tables: tuple[TableDiff, ...]

    @property
    def identical(self) -> bool:
        """Every table is identical row for row."""
        return all(t.identical for t in self.tables)


def rebuild(
    settings: ServiceSettings,
    *,
    schema: str,
    prefix: str = "",
    targets: Offsets | None = None,
    progress: Progress | None = None,
) -> RebuildStats:
    """Replay the log into ``schema`` (migrated first) up to ``targets`` (default: the end)."""
    topics = TopicNames(prefix)
    with connect(settings, schema) as conn:
        migrate(conn, schema=schema)
        conn.autocommit = False
        store = ProjectionStore(conn)
        c = consumer(settings, group=f"{prefix}sluice-replay")
        try:
            if targets is None:
                targets = _ends(c, (topics.runs, topics.pipelines))
            starts = {k: store.stored_offsets(k[0]).get(k[1], 0) for k in targets}
            return _replay(c, store, starts, targets, progress)
        finally:
            c.close()


def _ends(c: Consumer, topics: Iterable[str]) -> Offsets:
    ends: Offsets = {}
    for topic in topics:
        try:
            meta = c.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as e:
            raise EventLogUnavailable(f"cannot read the metadata of {topic}: {e}") from e
        if meta is None or (meta.error is not None and meta.error.code() == _UNKNOWN_TOPIC):
            continue  # a topic nobody created yet holds nothing to replay
        if meta.error is not None:
            raise EventLogUnavailable(f"cannot replay {topic}: {meta.error}; is Kafka up?")
        for p, end in end_offsets(c, topic, sorted(meta.partitions)).items():
            ends[(topic, p)] = end
    return ends


def _replay(
    c: Consumer,
    store: ProjectionStore,
    starts: Offsets,
    targets: Offsets,
    progress: Progress | None,
) -> RebuildStats:
    began = time.monotonic()
    remaining = {k for k, end in targets.items() if starts[k] < end}
    c.assign([TopicPartition(t, p, starts[(t, p)]) for t, p in sorted(remaining)])
    messages = applied = malformed = 0
    last_report = last_message = began
    while remaining:
        batch = _consume(c)
        now = time.monotonic()
        if batch:
            result = store.apply_batch(batch, limits=targets)
            messages += len(batch) - result.duplicates
            applied, malformed = applied + result.applied, malformed + result.malformed
            last_message = now
        remaining -= _reached(c, remaining, targets, batch)
        if now - last_message > _STALL_S:
            raise EventLogUnavailable(f"replay stalled short of {sorted(remaining)}")
        if progress is not None and now - last_report >= 1.0:
            progress(messages, now - began)
            last_report = now
    return RebuildStats(messages, applied, malformed, time.monotonic() - began)


def _consume(c: Consumer) -> list[Message]:
    batch = []
    for msg in take_batch(c, _BATCH, timeout=0.2):
        error = msg.error()
        if error is None:
            batch.append(msg)
        elif error.code() != KafkaError._PARTITION_EOF:
            raise EventLogUnavailable(f"replay cannot read {msg.topic()}: {error}")
    return batch


def _reached(
    c: Consumer, remaining: set[tuple[str, int]], targets: Offsets, batch: list[Message]
) -> set[tuple[str, int]]:
    """Partitions now read up to their target (by message, or by position past markers)."""
    done = {
        (m.topic() or "", m.partition() or 0)
        for m in batch
        if (m.offset() or 0) + 1 >= targets.get((m.topic() or "", m.partition() or 0), 0)
    }
    if not batch:
        positions = c.position([TopicPartition(t, p) for t, p in sorted(remaining)])
        done |= {
            (tp.topic, tp.partition)
            for tp in positions
            if tp.offset >= targets[(tp.topic, tp.partition)]
        }
    done &= remaining
    if done:
        c.pause([TopicPartition(t, p) for t, p in sorted(done)])
    return done


def verify(
    settings: ServiceSettings,
    *,
    live_schema: str = "public",
    prefix: str = "",
    scratch_schema: str | None = None,
    keep: bool = False,
    shown: int = 5,
    progress: Progress | None = None,
) -> VerifyReport:
    """Rebuild into a scratch schema up to the live offsets and compare every table."""
    scratch = scratch_schema or f"replay_{uuid.uuid4().hex[:12]}"
    topics = TopicNames(prefix)
    with connect(settings, live_schema) as live:
        offsets = _snapshot(live, (topics.runs, topics.pipelines))
        try:
            stats = rebuild(
                settings, schema=scratch, prefix=prefix, targets=offsets, progress=progress
            )
            diffs = tuple(_compare(live, scratch, table, shown) for table in TABLES)
        finally:
            if not keep:
                _drop(live, scratch)
    return VerifyReport(scratch, offsets, stats, diffs)


def _snapshot(live: psycopg.Connection[Any], topics: tuple[str, ...]) -> Offsets:
    """The live offsets, and a temporary copy of every live table, from one snapshot."""
    try:
        with live.transaction():
            live.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            rows = live.execute(
                "SELECT topic, partition, next_offset FROM projection_offsets"
                " WHERE projection = %s AND topic = ANY(%s)",
                (PROJECTION, list(topics)),
            ).fetchall()
            for table in TABLES:
                live.execute(
                    sql.SQL("CREATE TEMP TABLE {} AS SELECT * FROM {}").format(
                        sql.Identifier(f"live_{table}"), sql.Identifier(table)
                    )
                )
    except psycopg.Error as e:
        raise ProjectionUnavailable(f"cannot read the live read model: {e}") from e
    return {(t, p): o for t, p, o in rows}


# Rows that retention (``sluice gc``) may already have deleted from the live model, while a
# replay brings them back from the log: compared only while they are still retained.
_RETAINED = {"artifacts": sql.SQL(" WHERE expires_at > now()")}


def _compare(live: psycopg.Connection[Any], scratch: str, table: str, shown: int) -> TableDiff:
    cols = _columns(live, table)
    names = sql.SQL(", ").join(map(sql.Identifier, cols))
    retained = _RETAINED.get(table, sql.SQL(""))
    mine = sql.SQL("SELECT {} FROM {}{}").format(names, sql.Identifier(f"live_{table}"), retained)
    theirs = sql.SQL("SELECT {} FROM {}.{}{}").format(
        names, sql.Identifier(scratch), sql.Identifier(table), retained
    )

    def rows(query: sql.Composable) -> list[tuple[Any, ...]]:
        return live.execute(sql.SQL("{} LIMIT {}").format(query, sql.Literal(shown))).fetchall()

    def count(query: sql.Composable) -> int:
        row = live.execute(sql.SQL("SELECT count(*) FROM ({}) AS t").format(query)).fetchone()
        return int(row[0]) if row else 0

    return TableDiff(
        table,
        cols,
        count(mine),
        count(theirs),
        rows(sql.SQL("{} EXCEPT ALL {}").format(mine, theirs)),
        rows(sql.SQL("{} EXCEPT ALL {}").format(theirs, mine)),
    )


def _columns(live: psycopg.Connection[Any], table: str) -> tuple[str, ...]:
    """The live table's columns by name, so a different column order compares equal."""
    rows = live.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return tuple(r[0] for r in rows)


def _drop(live: psycopg.Connection[Any], scratch: str) -> None:
    live.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(scratch)))
