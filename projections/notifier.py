"""The notifier: ``sluice.runs`` → a durable outbox in PostgreSQL → webhooks, Slack, e-mail.

Two loops, one process (``sluice processor notifier``):

* the **outbox projection** runs on :mod:`projections.runner` (its own consumer group,
  projection ``notifier``): for each event a live subscription of the run's pipeline asks
  for, :class:`Outbox` inserts a delivery row IN THE SAME transaction as its offsets, so a
  crash never loses or doubles a queued notification;
* the **sender** (:mod:`projections.notify_sender`) delivers pending rows at least once,
  with exponential back-off, recording every attempt: a receiver that is down for minutes
  gets everything once it is back, and a restart re-sends nothing already delivered.

Events raised before a subscription existed never notify it (a first start that reads the
log from offset 0 does not flood anyone with old runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.wire import to_record
from projections import runner
from projections.notify_payload import RunInfo, build_payload, delivery_id, kind_of, run_url
from projections.notify_sender import Sender
from projections.notify_settings import NotifierSettings
from projections.notify_store import (
    insert_deliveries,
    load_runs,
    remember_runs,
    subscriptions_for,
)
from projections.runner import Projection, ProjectionRunner
from schemas.pg import Conn
from schemas.settings import ServiceSettings
from schemas.topics import RUNS

__all__ = ["PROJECTION", "Event", "Notifier", "NotifierSettings", "Outbox", "plan", "run_url"]

PROJECTION = "notifier"
_log = logging.getLogger("sluice.notifier")


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


class Outbox:
    """The outbox projection's handler: queues the deliveries a batch of run events raises."""

    def __init__(self, config: NotifierSettings) -> None:
        """Link payloads to runs under ``config.public_url``."""
        self.config = config
        self.queued = 0

    def projection(self) -> Projection:
        """This outbox as a projection of ``sluice.runs``."""
        return Projection(
            name=PROJECTION,
            process="notifier",
            topics=(RUNS.name,),
            handler=self.write,
            batch_size=500,
        )

    def write(self, conn: Conn, batch: Sequence[runner.Event]) -> None:
        """Queue the deliveries ``batch`` raises (the runner's transaction is open)."""
        events = [Event(*to_record(e.record), e.topic, e.partition, e.offset) for e in batch]
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
        self.queued += len(rows)


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
        self._schema = schema
        self.config = config or NotifierSettings()
        self.outbox = Outbox(self.config)
        self.runner = ProjectionRunner(
            self.outbox.projection(), settings, prefix=prefix, schema=schema
        )

    @property
    def ready(self) -> threading.Event:
        """Set once the outbox projection owns partitions."""
        return self.runner.ready

    @property
    def queued(self) -> int:
        """Deliveries queued since start."""
        return self.outbox.queued

    @property
    def reconnects(self) -> int:
        """Lost PostgreSQL connections opened again."""
        return self.runner.reconnects

    def run(self, stop: threading.Event) -> None:
        """Queue and send notifications until ``stop`` is set."""
        sender = Sender(self._settings, schema=self._schema, config=self.config)
        done = threading.Event()  # the sender stops with this loop, never the caller's others
        thread = threading.Thread(target=sender.run, args=(done,), name="notify-sender")
        thread.start()
        try:
            self.runner.run(stop)
        finally:
            done.set()
            thread.join(30)


def _run_info(value: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=str(value["run_id"]),
        pipeline_id=str(value["pipeline_id"]),
        pipeline_name=str(value["pipeline_name"]),
        branch=str(value["branch"]),
        commit_sha=str(value["commit_sha"]),
    )
