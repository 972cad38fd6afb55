"""The notifier: ``sluice.runs`` → a durable outbox in PostgreSQL → webhooks, Slack, e-mail.

Two loops, one process (``sluice processor notifier``):

* the **projection** (its own consumer group) reads ``sluice.runs`` and, for each event a
  live subscription of the run's pipeline asks for, inserts a delivery row IN THE SAME
  transaction as its offsets (``projection_offsets``, projection ``notifier``): a crash
  never loses or doubles a queued notification;
* the **sender** (:mod:`projections.notify_sender`) delivers pending rows at least once,
  with exponential back-off, recording every attempt: a receiver that is down for minutes
  gets everything once it is back, and a restart re-sends nothing already delivered.

Events raised before a subscription existed never notify it (a first start that reads the
log from offset 0 does not flood anyone with old runs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from projections.lag import export_assigned_lag
from projections.migrate import migrate
from projections.notify_email import SmtpSettings
from projections.notify_payload import RunInfo, build_payload, delivery_id, kind_of
from projections.notify_store import (
    insert_deliveries,
    load_runs,
    remember_runs,
    subscriptions_for,
)
from projections.projector import ProjectionUnavailable, connect, take_batch
from schemas.codec import SchemaError, decode
from schemas.eventlog import TopicNames, consumer
from schemas.metrics import PROCESSOR_EVENTS
from schemas.settings import ServiceSettings

__all__ = ["PROJECTION", "Event", "Notifier", "NotifierSettings", "plan", "run_url"]

PROJECTION = "notifier"
_log = logging.getLogger("sluice.notifier")
_LAG_EVERY_S = 5.0
_RECONNECT_MIN_S, _RECONNECT_MAX_S = 0.2, 5.0


@dataclass(frozen=True, kw_only=True)
class NotifierSettings:
    """How the notifier links to runs, reaches SMTP and backs off (``SLUICE_*`` variables)."""

    public_url: str = "http://127.0.0.1:8080"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    give_up_after_s: float = 24 * 3600.0
    http_timeout_s: float = 10.0
    idle_poll_s: float = 0.2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifierSettings:
        """Read ``SLUICE_PUBLIC_URL`` and the ``SLUICE_SMTP_*`` variables."""
        smtp = SmtpSettings.from_env(env)
        return cls(public_url=env.get("SLUICE_PUBLIC_URL", cls.public_url), smtp=smtp)


def run_url(public_url: str, run_id: str) -> str:
    """The address of a run's page."""
    return f"{public_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class Event:
    """One decoded ``sluice.runs`` record and where it was read."""

    name: str
    value: Mapping[str, Any]
    topic: str
    partition: int
    offset: int


Row = tuple[str, str, str, str, dict[str, Any]]


def plan(
    events: Sequence[Event],
    runs: Mapping[str, RunInfo],
    subscriptions: Mapping[str, Sequence[tuple[str, tuple[str, ...], int]]],
    public_url: str,
) -> list[Row]:
    """The delivery rows ``events`` raise (pure). ``subscriptions`` maps a pipeline to its
    (subscription id, events, created-at ms) triples."""
    rows: list[Row] = []
    for e in events:
        kind = kind_of(e.name)
        run = runs.get(str(e.value["run_id"]))
        if kind is None or run is None:
            continue
        for sub_id, wanted, created_ms in subscriptions.get(run.pipeline_id, ()):
            if kind in wanted and int(e.value["occurred_at_ms"]) >= created_ms:
                key = delivery_id(sub_id, e.topic, e.partition, e.offset)
                url = run_url(public_url, run.run_id)
                payload = build_payload(kind, e.value, run, delivery=key, run_url=url)
                rows.append((key, sub_id, run.run_id, kind, payload))
    return rows


class Notifier:
    """The notifier process: the outbox projection here, the sender in a thread beside it."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        prefix: str = "",
        schema: str = "public",
        config: NotifierSettings | None = None,
    ) -> None:
        """Notify about the runs on ``prefix``'s topics, keeping the outbox in ``schema``."""
        self._settings = settings
        self._topic = TopicNames(prefix).runs
        self._group = f"{prefix}sluice-notifier"
        self._schema = schema
        self.config = config or NotifierSettings()
        self.ready = threading.Event()
        self.queued = 0
        self.reconnects = 0
        self._conn: psycopg.Connection[Any] | None = None

    def run(self, stop: threading.Event) -> None:
        """Queue and send notifications until ``stop`` is set.

        A lost PostgreSQL connection is opened again (with back-off) and the partitions owned
        are re-read from the offsets stored with the outbox: nothing is lost or queued twice.
        """
        from projections.notify_sender import Sender  # noqa: PLC0415 (a sibling loop)

        sender = Sender(self._settings, schema=self._schema, config=self.config)
        done = threading.Event()  # the sender stops with this loop, never the caller's others
        thread = threading.Thread(target=sender.run, args=(done,), name="notify-sender")
        thread.start()
        c = consumer(self._settings, group=self._group)
        pause = _RECONNECT_MIN_S
        try:
            c.subscribe([self._topic], on_assign=self._on_assign)
            while not stop.is_set():
                try:
                    self._serve(c, stop)
                except ProjectionUnavailable as e:
                    if not isinstance(e.__cause__, psycopg.OperationalError):
                        raise
                    _log.warning("notifier: %s; retrying in %.1f s", e, pause)
                    self.reconnects += 1
                    stop.wait(pause)
                    pause = min(pause * 2, _RECONNECT_MAX_S)
        finally:
            c.close()
            done.set()
            thread.join(30)

    def _serve(self, c: Consumer, stop: threading.Event) -> None:
        with connect(self._settings, self._schema, name=f"sluice-notifier {self._schema}") as conn:
            migrate(conn, schema=self._schema)
            conn.autocommit = False
            self._conn = conn
            for tp in self._stored_positions(c.assignment()):
                c.seek(tp)
            lag_at = 0.0
            while not stop.is_set():
                self._step(c)
                lag_at = self._export_lag(c, lag_at)

    def _step(self, c: Consumer) -> None:
        batch = []
        for msg in take_batch(c, 500, timeout=0.2):
            error = msg.error()
            if error is None:
                batch.append(msg)
            elif error.code() != KafkaError._PARTITION_EOF:
                _log.warning("notifier consumer: %s", error)
        if batch:
            self.queued += self.apply_batch(batch)
            PROCESSOR_EVENTS.labels("notifier").inc(len(batch))

    def _export_lag(self, c: Consumer, last: float) -> float:
        now = time.monotonic()
        if now - last < _LAG_EVERY_S:
            return last
        export_assigned_lag("notifier", c)
        return now

    def apply_batch(self, messages: Sequence[Message]) -> int:
        """Queue the deliveries ``messages`` raise, with their offsets, in one transaction."""
        assert self._conn is not None, "only while running"
        try:
            with self._conn.transaction():
                return self._apply(self._conn, messages)
        except psycopg.Error as e:
            raise ProjectionUnavailable(f"cannot write the notification outbox: {e}") from e

    def _apply(self, conn: psycopg.Connection[Any], messages: Sequence[Message]) -> int:
        stored = _lock_offsets(conn, self._topic)
        fresh = [m for m in messages if (m.offset() or 0) >= stored.get(m.partition() or 0, 0)]
        events = _decode_all(fresh)
        created = [_run_info(e.value) for e in events if e.name == "RunCreated"]
        remember_runs(conn, created)
        runs = load_runs(conn, sorted({str(e.value["run_id"]) for e in events}))
        subs = subscriptions_for(conn, sorted({r.pipeline_id for r in runs.values()}))
        triples = {
            p: [(s.subscription_id, s.events, s.created_at_ms) for s in found]
            for p, found in subs.items()
        }
        rows = plan(events, runs, triples, self.config.public_url)
        insert_deliveries(conn, rows)
        _save_offsets(conn, self._topic, fresh)
        return len(rows)

    def _on_assign(self, c: Consumer, partitions: list[TopicPartition]) -> None:
        """Start at the offsets stored with the outbox, never Kafka's committed ones."""
        c.incremental_assign(self._stored_positions(partitions))
        self.ready.set()

    def _stored_positions(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        assert self._conn is not None, "only while serving"
        try:
            with self._conn.transaction():
                stored = _lock_offsets(self._conn, self._topic)
        except psycopg.Error as e:
            raise ProjectionUnavailable(f"cannot read the notifier's offsets: {e}") from e
        return [
            TopicPartition(tp.topic, tp.partition, stored.get(tp.partition, OFFSET_BEGINNING))
            for tp in partitions
        ]


def _lock_offsets(conn: psycopg.Connection[Any], topic: str) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM projection_offsets"
        " WHERE projection = %s AND topic = %s FOR UPDATE",
        (PROJECTION, topic),
    ).fetchall()
    return {p: o for p, o in rows}


def _save_offsets(conn: psycopg.Connection[Any], topic: str, messages: Sequence[Message]) -> None:
    next_offsets: dict[int, int] = {}
    for m in messages:
        next_offsets[m.partition() or 0] = (m.offset() or 0) + 1
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projection_offsets (projection, topic, partition, next_offset)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (projection, topic, partition)"
            " DO UPDATE SET next_offset = GREATEST("
            "projection_offsets.next_offset, EXCLUDED.next_offset)",
            [(PROJECTION, topic, p, o) for p, o in sorted(next_offsets.items())],
        )


def _decode_all(messages: Sequence[Message]) -> list[Event]:
    events = []
    for m in messages:
        where = (m.topic() or "", m.partition() or 0, m.offset() or 0)
        try:
            decoded = decode(m.value() or b"", topic=where[0], partition=where[1], offset=where[2])
        except SchemaError as e:  # its message names topic[partition]@offset
            _log.warning("notifier: skipping malformed message %s", e)
            continue
        events.append(Event(decoded.name, decoded.value, *where))
    return events


def _run_info(value: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=str(value["run_id"]),
        pipeline_id=str(value["pipeline_id"]),
        pipeline_name=str(value["pipeline_name"]),
        branch=str(value["branch"]),
        commit_sha=str(value["commit_sha"]),
    )
