"""The projection runner: the one way Sluice builds a PostgreSQL read model from the log.

A read model is a :class:`Projection`: a name, the topics it reads, a handler and the tables
it owns. Adding one takes a handler, a migration and a registration line::

    def write(conn: Conn, events: Sequence[Event]) -> None:
        ...  # what the batch means, written with ``conn`` (its transaction is open)

    # projections/sql/NNNN_my_rows.sql creates my_rows
    # projections/registry.py, in REGISTERED:
    Projection(name="my_rows", topics=(RUNS.name,), handler=write, tables=("my_rows",))

Registered projections are run by ``sluice processor projection`` and rebuilt and compared by
``sluice replay --verify`` (:mod:`projections.replay`). What the runner guarantees:

* **decoded**: each message is decoded by ``orchestrator.wire`` into its domain record
  (:class:`Event` holds it with its position); one that does not decode is logged, counted
  and skipped; one whose record the projection does not take (``records``) is counted and
  skipped undecoded (only its header is read: most of ``sluice.runs`` is of no interest to
  most read models, and is neither decoded nor logged by them);
* **exactly once**: a batch's rows and each partition's next offset (table
  ``projection_offsets``) are written in ONE transaction (one for every read model a runner
  serves), which first locks the stored offsets and drops every message below them, and a
  partition is always (re)started at the offset stored with the rows, never at Kafka's
  committed one;
* **asynchronous commit**: a batch's commit does not wait for PostgreSQL to flush its WAL;
  losing the last commits in a crash loses rows and offsets together (re-applied from Kafka);
* **reconnects**: a lost PostgreSQL connection is opened again with back-off, and the
  partitions owned are re-read from their stored offsets;
* **observable**: ``sluice_processor_events_total`` and ``sluice_projection_lag`` carry the
  projection's ``process`` label; :func:`wait_until` gives read-your-writes to the API.

A handler is never handed an event twice (the stored offsets see to it), so it need not
be idempotent; it must not commit, and it must write only its own tables.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from orchestrator.wire import WireError, decode_record
from projections.lag import export_assigned_lag
from projections.migrate import migrate
from schemas.codec import SchemaError, record_name
from schemas.errors import InfrastructureError
from schemas.eventlog import PATIENT_FETCH, consumer, take_batch
from schemas.metrics import PROCESSOR_EVENTS
from schemas.pg import Conn, DatabaseUnavailable, connect
from schemas.settings import ServiceSettings

__all__ = [
    "BatchResult",
    "Event",
    "Handler",
    "Projection",
    "ProjectionLagging",
    "ProjectionRunner",
    "ProjectionUnavailable",
    "apply_batch",
    "apply_together",
    "stored_offsets",
    "wait_until",
    "wait_until_all",
]

_RECONNECT_MIN_S, _RECONNECT_MAX_S = 0.2, 5.0
_LAG_EVERY_S = 5.0
_log = logging.getLogger("sluice.projection")


class ProjectionUnavailable(InfrastructureError):
    """PostgreSQL could not be reached or refused a projection's writes; run infra/up."""


class ProjectionLagging(InfrastructureError):
    """The projection did not reach an offset in time; is `sluice processor projection` up?"""


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded record (a domain dataclass) and where it was read."""

    record: Any
    topic: str
    partition: int
    offset: int


Handler = Callable[[Conn, Sequence[Event]], None]


@dataclass(frozen=True, kw_only=True)
class Projection:
    """A read model: what it is called, what it reads, what writes it and what it owns.

    ``name`` keys its rows of ``projection_offsets``; ``process`` names its consumer group
    (``sluice-<process>``), its connections (``sluice-<process> <schema>``) and its metric
    labels; ``topics`` are base names (``schemas.topics``), prefixed at run time; ``tables``
    are what a rebuild compares; ``records``, if given, the record names it takes.
    """

    name: str
    topics: tuple[str, ...]
    handler: Handler
    tables: tuple[str, ...] = ()
    process: str = ""
    records: frozenset[str] | None = None
    batch_size: int = 2000

    @property
    def label(self) -> str:
        """Its process label (its name unless one was given)."""
        return self.process or self.name

    def topic_names(self, prefix: str) -> tuple[str, ...]:
        """Its topics' real names under ``prefix``."""
        return tuple(prefix + t for t in self.topics)

    def part(self, *topics: str) -> Projection:
        """The same read model reading only ``topics`` (of its own), for a runner that serves
        its other topics elsewhere: its rows and offsets are the same, its offsets keyed by
        topic, and its metrics labelled ``<label>:<topics>`` (a gauge set by two runners
        would flap between their values)."""
        if not topics or not set(topics) <= set(self.topics):
            raise ValueError(f"{self.name} reads {self.topics}, not all of {topics}")
        return replace(self, topics=topics, process=f"{self.label}:{'+'.join(topics)}")


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: events applied, messages skipped as malformed, duplicates dropped,
    and records skipped because the projection does not take them."""

    applied: int
    malformed: int
    duplicates: int
    ignored: int = 0


Offsets = dict[tuple[str, int], int]


def apply_batch(
    conn: Conn,
    projection: Projection,
    messages: Sequence[Message],
    *,
    limits: Offsets | None = None,
) -> BatchResult:
    """Apply ``messages`` (below ``limits`` only) and their next offsets in one transaction."""
    return apply_together(conn, [(projection, messages)], limits=limits)[0]


def apply_together(
    conn: Conn,
    work: Sequence[tuple[Projection, Sequence[Message]]],
    *,
    limits: Offsets | None = None,
) -> list[BatchResult]:
    """Apply each projection's messages and each one's next offsets, all in one transaction.

    A runner's read models share their batches' transaction: one apiece cost four round
    trips each (begin, lock, save, commit) even for a read model that takes nothing from
    the batch, which is most batches for most of them.
    """
    if not work:
        return []
    placed = {p.name: [(m, *_where(m)) for m in messages] for p, messages in work}
    results = []
    try:
        with conn.transaction():
            stored = _lock_offsets(
                conn, sorted(placed), {item[1] for items in placed.values() for item in items}
            )
            saving: dict[tuple[str, str, int], int] = {}
            for projection, messages in work:
                fresh, next_offsets = _unapplied(
                    placed[projection.name], stored.get(projection.name, {}), limits or {}
                )
                events, malformed, ignored = _decode_all(fresh, projection)
                if events:
                    projection.handler(conn, events)
                saving.update({(projection.name, *k): o for k, o in next_offsets.items()})
                results.append(
                    BatchResult(len(events), malformed, len(messages) - len(fresh), ignored)
                )
            _save_offsets(conn, saving)
    except psycopg.Error as e:
        names = ", ".join(sorted(placed))
        raise ProjectionUnavailable(f"cannot write projection {names}: {e}") from e
    return results


def stored_offsets(conn: Conn, projection: str, topic: str) -> dict[int, int]:
    """The next offset to apply of each partition of ``topic`` that has one stored."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "SELECT partition, next_offset FROM projection_offsets"
                " WHERE projection = %s AND topic = %s",
                (projection, topic),
            ).fetchall()
    except psycopg.Error as e:
        raise ProjectionUnavailable(f"cannot read the offsets of {projection}: {e}") from e
    return {p: o for p, o in rows}


def _lock_offsets(conn: Conn, projections: list[str], topics: set[str]) -> dict[str, Offsets]:
    # ordered, so that two runners locking the same rows (a partition moving between them)
    # take them in the same order and cannot deadlock
    rows = conn.execute(
        "SELECT projection, topic, partition, next_offset FROM projection_offsets"
        " WHERE projection = ANY(%s) AND topic = ANY(%s)"
        " ORDER BY projection, topic, partition FOR UPDATE",
        (projections, sorted(topics)),
    ).fetchall()
    stored: dict[str, Offsets] = {}
    for name, t, p, o in rows:
        stored.setdefault(name, {})[(t, p)] = o
    return stored


def _save_offsets(conn: Conn, next_offsets: dict[tuple[str, str, int], int]) -> None:
    if not next_offsets:
        return
    # One statement for every read model and partition of the batch: executemany sent one
    # per partition, and its pipeline's bookkeeping was ~30 % of the projection's time.
    keys = sorted(next_offsets)
    conn.execute(
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[])"
        " ON CONFLICT (projection, topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset",
        (
            [n for n, _, _ in keys],
            [t for _, t, _ in keys],
            [p for _, _, p in keys],
            [next_offsets[k] for k in keys],
        ),
    )


Placed = tuple[Message, str, int, int]  # a message, its topic, partition and offset


def _unapplied(
    placed: list[Placed], stored: Offsets, limits: Offsets
) -> tuple[list[Placed], Offsets]:
    """The messages not applied yet (and below their limit), and each partition's next offset."""
    fresh: list[Placed] = []
    next_offsets: Offsets = {}
    for item in placed:
        _, topic, partition, offset = item
        key = (topic, partition)
        if offset < stored.get(key, 0) or offset >= limits.get(key, offset + 1):
            continue
        fresh.append(item)
        next_offsets[key] = offset + 1
    return fresh, next_offsets


def _where(msg: Message) -> tuple[str, int, int]:
    """topic, partition and offset of a consumed message (never None once consumed)."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


def _decode_all(placed: list[Placed], projection: Projection) -> tuple[list[Event], int, int]:
    """The events the projection takes, how many messages were malformed (logged) and how
    many held records it does not take (skipped on their header, undecoded)."""
    events: list[Event] = []
    malformed = ignored = 0
    for msg, topic, partition, offset in placed:
        data = msg.value() or b""
        try:
            if projection.records is not None and (
                record_name(data, topic=topic, partition=partition, offset=offset)
                not in projection.records
            ):
                ignored += 1
                continue
            record = decode_record(data, topic=topic, partition=partition, offset=offset)
        except (SchemaError, WireError) as e:  # its message names topic[partition]@offset
            _log.warning("%s: skipping malformed message %s", projection.name, e)
            malformed += 1
            continue
        events.append(Event(record, topic, partition, offset))
    return events, malformed, ignored


class ProjectionRunner:
    """Runs one :class:`Projection` (and any given in ``also``): consumes their topics with
    one consumer and applies each batch to each of them exactly once, in one transaction.

    Read models that read the same topics share a runner so that the broker sends each event
    once instead of once a read model: under load every event of ``sluice.runs`` woke each
    of its readers' fetches, most of the broker's work.
    """

    def __init__(
        self,
        projection: Projection,
        settings: ServiceSettings,
        *,
        prefix: str = "",
        schema: str = "public",
        also: Sequence[Projection] = (),
    ) -> None:
        """Project ``prefix``'s topics into the tables of PostgreSQL ``schema``."""
        self.projection = projection  # names the group, the connection and the log lines
        self.projections = (projection, *also)
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):  # a batch's work and offsets are keyed by name
            raise ValueError(f"one runner serves a read model once; given {names}")
        self._settings = settings
        self._reads = {p.name: frozenset(p.topic_names(prefix)) for p in self.projections}
        self._topics = tuple(sorted(set().union(*self._reads.values())))
        self._group = f"{prefix}sluice-{projection.label}"
        self._schema = schema
        self.applied = 0
        self.malformed = 0
        self.duplicates = 0
        self.reconnects = 0
        self.assigned: frozenset[tuple[str, int]] = frozenset()  # (topic, partition) it owns
        self._starts: dict[tuple[str, int], int] = {}  # where each was assigned to start
        self.ready = threading.Event()  # set once it owns partitions
        self._conn: Conn | None = None
        self._lag_at = 0.0

    def run(self, stop: threading.Event) -> None:
        """Migrate the schema if needed, then consume and apply until ``stop`` is set.

        A lost PostgreSQL connection is opened again (with back-off) and every partition
        the runner owns is re-read from the offset stored with the rows: nothing is lost or
        applied twice. Any other error ends the runner.
        """
        # patient: a read model's fetch returns as soon as an event is there all the same
        # (fetch.min.bytes 1), and eight runners at 10 ms kept Kafka answering 800 empty
        # fetches a second
        c = consumer(self._settings, group=self._group, **PATIENT_FETCH)
        pause = _RECONNECT_MIN_S
        try:
            c.subscribe(
                list(self._topics),
                on_assign=self._on_assign,
                on_revoke=lambda _, parts: self._on_revoke(parts),
            )
            while not stop.is_set():
                try:
                    self._serve(c, stop)
                except (ProjectionUnavailable, DatabaseUnavailable) as e:
                    if not isinstance(e.__cause__, psycopg.OperationalError):
                        raise
                    _log.warning("%s: %s; retrying in %.1f s", self.projection.name, e, pause)
                    self.reconnects += 1
                    stop.wait(pause)
                    pause = min(pause * 2, _RECONNECT_MAX_S)
        finally:
            c.close()

    def _serve(self, c: Consumer, stop: threading.Event) -> None:
        name = f"sluice-{self.projection.label} {self._schema}"
        with connect(self._settings.pg_dsn, schema=self._schema, name=name) as conn:
            migrate(conn, schema=self._schema)
            # A read model's commit need not wait for the WAL flush (4 ms p50, 15 ms p90 on
            # this machine under load): its rows and offsets commit together, so a crash that
            # loses the last commits rewinds both, and the batch is applied again from Kafka.
            conn.execute("SET synchronous_commit = off")
            conn.autocommit = False
            self._conn = conn
            for tp in self._with_stored_offsets(c.assignment()):
                c.seek(tp)  # back to the stored offsets (after a lost connection)
                self._starts[(tp.topic, tp.partition)] = tp.offset
            while not stop.is_set():
                self._step(conn, c)

    def _step(self, conn: Conn, c: Consumer) -> None:
        batch = []
        for msg in take_batch(c, self.projection.batch_size, timeout=0.1):
            error = msg.error()
            if error is None:
                batch.append(msg)
            elif error.code() != KafkaError._PARTITION_EOF:
                _log.warning("%s consumer: %s", self.projection.name, error)
        work = []
        for projection in self.projections if batch else ():
            reads = self._reads[projection.name]
            mine = [m for m in batch if m.topic() in reads]
            if mine:
                work.append((projection, mine))
        for (projection, _), result in zip(work, apply_together(conn, work), strict=True):
            self.applied += result.applied
            self.malformed += result.malformed
            self.duplicates += result.duplicates
            PROCESSOR_EVENTS.labels(projection.label).inc(result.applied)
        if time.monotonic() - self._lag_at >= _LAG_EVERY_S:
            self._lag_at = time.monotonic()
            for projection in self.projections:
                export_assigned_lag(projection.label, c, self._starts)

    def _on_assign(self, c: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each assigned partition at the offset stored with the rows, not Kafka's."""
        starting = self._with_stored_offsets(partitions)
        c.incremental_assign(starting)
        self._starts.update({(tp.topic, tp.partition): tp.offset for tp in starting})
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        self.ready.set()

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.assigned -= {(tp.topic, tp.partition) for tp in partitions}
        for tp in partitions:
            self._starts.pop((tp.topic, tp.partition), None)

    def _with_stored_offsets(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Each partition at the least offset its read models stored (from its start if one
        of them stored none): one ahead drops what it applied already, as after a crash."""
        assert self._conn is not None, "callbacks only run while serving"
        conn, topics = self._conn, {tp.topic for tp in partitions}
        stored = {
            (p.name, t): stored_offsets(conn, p.name, t)
            for p in self.projections
            for t in topics & self._reads[p.name]
        }
        starting = []
        for tp in partitions:
            offsets = [
                stored[(p.name, tp.topic)].get(tp.partition)
                for p in self.projections
                if tp.topic in self._reads[p.name]
            ]
            known = [o for o in offsets if o is not None]
            start = min(known) if known and len(known) == len(offsets) else OFFSET_BEGINNING
            starting.append(TopicPartition(tp.topic, tp.partition, start))
        return starting


def wait_until(
    conn: Conn, projection: str, topic: str, partition: int, offset: int, *, timeout: float
) -> None:
    """Return once ``projection`` has applied ``offset`` of ``topic[partition]``.

    Read-your-writes for the API and tests: after producing an event at ``offset``, rows
    read after this returns include its effect. Raises :class:`ProjectionLagging` on timeout.
    """
    wait_until_all(conn, projection, topic, {partition: offset}, timeout=timeout)


def wait_until_all(
    conn: Conn, projection: str, topic: str, offsets: Mapping[int, int], *, timeout: float
) -> None:
    """Return once ``projection`` has applied, on every partition of ``offsets``, the offset
    given for it (one query a round; pauses of 2 ms doubling up to 10 ms). Raises
    :class:`ProjectionLagging` on timeout."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        stored = stored_offsets(conn, projection, topic) if offsets else {}
        behind = {p: o for p, o in offsets.items() if stored.get(p, 0) <= o}
        if not behind:
            return
        if time.monotonic() >= deadline:
            partition, offset = min(behind.items())
            reached = stored.get(partition)
            done = "nothing" if reached is None else f"offset {reached - 1}"
            raise ProjectionLagging(
                f"projection {projection} applied {done} of {topic}[{partition}], not"
                f" {offset}, within {timeout} s; is `sluice processor projection` running?"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
