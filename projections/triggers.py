"""The trigger processor: ``sluice.triggers`` in, ``RunCreated``/``RunRejected``/``RunDeduplicated``
out to ``sluice.inbox`` (key ``run_id``).

A faust-streaming app. Its one agent decodes a ``RunRequested``, asks the pure rule
:func:`projections.dedup.dedup` about the request's dedup key (a changelog-backed table,
co-partitioned with ``sluice.triggers`` because both are keyed by ``pipeline|branch|sha``),
and either answers at once with ``RunDeduplicated`` or hands the request to the
:class:`~projections.trigger_resolver.TriggerResolver`, then sends the answer.

Delivery is at-least-once: faust flushes the answers before it commits the offsets, and a
request processed twice after a crash carries the same pre-assigned ``run_id``, so its
second ``RunCreated`` names the same run (the decider ignores it). Two work-arounds keep
faust 0.11 from skipping a request: :mod:`projections.faust_rewind` (partitions never
committed are read from their start) and :mod:`projections.faust_commits` (no commit passes
a request the agent did not answer).

The table forgets keys more than 10 minutes (of event time) old: every ``sweep_every``
answers of a partition, that partition's old keys are deleted (tombstones on the changelog).

Start it with ``python -m projections.triggers``; SIGTERM stops it cleanly. Besides the
``SLUICE_*`` service settings it reads:

- ``SLUICE_CACHE_DIR``: where repository mirrors live (``~/.cache/sluice``)
- ``SLUICE_LOG_LEVEL``: ``warning``
- ``SLUICE_DEDUP_SWEEP_EVERY``: answers per partition between two sweeps (500)
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import uvloop
from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient, NewTopic

from orchestrator.domain.events import RunCreated, RunRejected
from orchestrator.domain.records import RunRequested
from orchestrator.wire import decode_record, encode_record
from projections.dedup import Duplicate, dedup, dedup_key
from projections.dedup_forgetting import ForgetOrder, entry_of
from projections.faust_commits import commit_guard
from projections.faust_fetch import prefetch_tuner
from projections.faust_rewind import rewinder
from projections.faust_tail import WATCH_EVERY_S, tail_watch
from projections.pipeline_catalogue import PipelineCatalogue
from projections.pipeline_source import PipelineSource
from projections.trigger_resolver import TriggerResolver
from projections.trigger_rules import Answer, deduplicated
from schemas.errors import DomainError
from schemas.eventlog import EventLogUnavailable, TopicNames, is_transient, partition_for
from schemas.settings import ServiceSettings
from schemas.topics import INBOX, PIPELINES, TRIGGERS

__all__ = [
    "SWEEP_EVERY",
    "TriggerSettings",
    "app_id",
    "await_topics",
    "build_app",
    "changelog_topic",
    "configured_app",
    "configured_worker",
    "ensure_changelog",
    "main",
    "run",
    "use_uvloop",
]

log = logging.getLogger(__name__)

_DEFAULT_CACHE = Path.home() / ".cache" / "sluice"
_TABLE = "dedup"
SWEEP_EVERY = 500  # answers per partition between two sweeps of forgettable dedup keys


@dataclass(frozen=True, slots=True)
class _Channels:
    triggers: faust.TopicT
    inbox: faust.TopicT
    seen: faust.types.TableT[str, dict[str, Any]]


def app_id(prefix: str = "") -> str:
    """The faust app id (and consumer group) of the trigger processor under ``prefix``."""
    return f"{prefix}sluice-triggers"


def changelog_topic(prefix: str = "") -> str:
    """The compacted topic that backs the dedup table (faust's naming)."""
    return f"{app_id(prefix)}-{_TABLE}-changelog"


def ensure_changelog(
    settings: ServiceSettings, *, prefix: str = "", timeout_s: float = 120.0
) -> None:
    """Create the dedup table's changelog (compacted, as wide as sluice.triggers) if missing,
    then wait until the broker shows it and the topics the agent reads and writes.

    A broker down or a controller moving (a restart while one broker of three is away) is
    waited out up to ``timeout_s``; only then, or on any other error, EventLogUnavailable."""
    name = changelog_topic(prefix)
    deadline = time.monotonic() + timeout_s
    while True:
        # A fresh client each try: librdkafka keeps the controller it learned, and a client
        # that cannot reach it waits on it until the request's timeout, every time it is asked.
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        try:
            _create_changelog(
                admin, name, timeout_s=min(10.0, max(deadline - time.monotonic(), 1.0))
            )
            break
        except KafkaException as e:
            if not is_transient(e) or time.monotonic() >= deadline:
                raise EventLogUnavailable(f"cannot create {name}: {e}; is Kafka up?") from e
            log.warning("cannot create %s yet (%s); asking again", name, e)
            time.sleep(1.0)
    names = TopicNames(prefix)
    await_topics(
        admin,
        {
            name: TRIGGERS.partitions,
            names.triggers: TRIGGERS.partitions,
            names.inbox: INBOX.partitions,
        },
        timeout_s=max(deadline - time.monotonic(), 60.0),
    )


def _create_changelog(admin: AdminClient, name: str, *, timeout_s: float) -> None:
    brokers = len(admin.list_topics(timeout=timeout_s).brokers)
    topic = NewTopic(
        name, TRIGGERS.partitions, min(3, brokers), config={"cleanup.policy": "compact"}
    )
    try:
        admin.create_topics([topic], request_timeout=30)[name].result()
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def await_topics(
    admin: AdminClient, wanted: dict[str, int], timeout_s: float = 60.0
) -> dict[str, int]:
    """Once Kafka shows each topic of ``wanted`` with its partitions, each led: the partitions
    it shows of each."""
    # faust reads the cluster's metadata once at start and for minutes trusts it: a topic the
    # broker does not show yet (just created, or a broker just restarted) reads as 0
    # partitions, and the agent crashes on every trigger (PartitionsMismatch).
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            topics = admin.list_topics(timeout=10).topics
        except KafkaException as e:
            if not is_transient(e) or time.monotonic() >= deadline:
                raise EventLogUnavailable(f"cannot read Kafka's metadata: {e}; is Kafka up?") from e
            time.sleep(0.2)
            continue
        missing = [
            t
            for t, n in wanted.items()
            if t not in topics
            or topics[t].error is not None
            or len(topics[t].partitions) != n
            or any(p.leader < 0 for p in topics[t].partitions.values())
        ]
        if not missing:
            return {t: len(topics[t].partitions) for t in wanted}
        if time.monotonic() >= deadline:
            raise EventLogUnavailable(
                f"Kafka does not show {', '.join(sorted(missing))} with a leader for every"
                f" partition after {timeout_s:.0f} s; create the topics (infra/up) and check"
                " the broker"
            )
        time.sleep(0.2)


def build_app(
    settings: ServiceSettings,
    *,
    prefix: str = "",
    resolver: TriggerResolver,
    datadir: Path,
    sweep_every: int = SWEEP_EVERY,
) -> faust.App:
    """The faust app, its dedup table and its agent, reading the topics named with ``prefix``."""
    app = configured_app(settings, app_id(prefix), datadir)
    names = TopicNames(prefix)
    channels = _channels(app, names)
    agent = _answer_agent(channels, resolver, sweep_every)
    app.agent(channels.triggers, name="answer")(agent)
    app.on_rebalance_complete.connect(rewinder(names.triggers))
    app.on_rebalance_complete.connect(commit_guard(names.triggers))
    app.timer(WATCH_EVERY_S)(tail_watch(names.triggers))
    return app


def configured_app(settings: ServiceSettings, name: str, datadir: Path) -> faust.App:
    """A faust app (no agents, no tables) configured as the trigger processor's; bench/dispatch.py
    measures a bare hop through one."""
    app = faust.App(
        name,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_disable_leader=True,
        # faust 0.11's own topic creation breaks on aiokafka >= 0.13; we create the changelog.
        topic_allow_declare=False,
        topic_partitions=TRIGGERS.partitions,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A crashed worker's partitions move on after 6 s (the broker's minimum) instead of
        # faust's default 60 s: a rebalance waits this long for a member that will never rejoin.
        broker_session_timeout=6.0,
        broker_rebalance_timeout=6.0,
        broker_heartbeat_interval=1.0,
    )
    app.on_rebalance_complete.connect(prefetch_tuner())
    return app


def use_uvloop() -> None:
    """Run this process's event loops on uvloop: the calling thread's, which faust runs on, and
    the one faust's consumer thread makes for itself (mode's ``ServiceThread`` calls
    ``asyncio.new_event_loop()``, which gave asyncio's selector loop until the policy said
    otherwise). libuv costs less per record than asyncio's selector loop: a bare faust hop's
    p50 4.8 → 4.2 ms here with the worker's loop alone."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())


class _Worker(faust.Worker):
    """faust's worker, leaving the process's command line as it was started."""

    def _setproctitle(self, info: str, *, ident: str = "") -> None:
        # With setproctitle installed (the pool's forked runners name themselves with it),
        # faust would retitle the process "[Faust:Worker] -init- ...": `make down` would no
        # longer know its own processor (orchestrator.daemons checks the command line), nor
        # the benches find it in /proc.
        return


def configured_worker(app: faust.App, log_level: str) -> faust.Worker:
    """A faust worker for ``app`` that leaves the root logger at ``log_level`` and the
    process's command line as it is."""
    worker = _Worker(app, loglevel=log_level, quiet=True)
    # Its start-up spinner would set the root logger to DEBUG, so that every debug line of
    # faust and aiokafka (several per record) became a LogRecord only to be dropped: ~6 % of
    # the processor's samples under load.
    worker.spinner = None
    return worker


def _channels(app: faust.App, names: TopicNames) -> _Channels:
    # Declared with the catalogue's sizes: faust must never create them any other way.
    triggers = app.topic(
        names.triggers, key_serializer="raw", value_serializer="raw", partitions=TRIGGERS.partitions
    )
    inbox = app.topic(
        names.inbox, key_serializer="raw", value_serializer="raw", partitions=INBOX.partitions
    )
    # Keyed like sluice.triggers, so each trigger partition's dedup state is local to it.
    seen = app.Table(_TABLE, partitions=TRIGGERS.partitions, key_type=str)
    return _Channels(triggers=triggers, inbox=inbox, seen=seen)


def _answer_agent(channels: _Channels, resolver: TriggerResolver, sweep_every: int) -> Any:
    answers: Counter[int] = Counter()
    order = ForgetOrder(lambda key: partition_for(key, TRIGGERS.partitions))

    async def answer(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            request = _decode_request(event.value)
            if request is not None:
                key = dedup_key(request)
                reply = await _answer(channels.seen, resolver, request, key)
                await channels.inbox.send(key=reply.run_id.encode(), value=encode_record(reply))
                partition = event.message.partition
                if isinstance(reply, RunCreated):  # the one answer that remembers a request
                    order.remembered(partition, key, entry_of(channels.seen[key]))
                answers[partition] += 1
                if answers[partition] % sweep_every == 0:
                    # Keeps the table (and its compacted changelog) to the last minutes of
                    # triggers. Inside an event of ``partition``, so each tombstone lands on
                    # that changelog partition.
                    for old in order.sweep(channels.seen, partition, request.occurred_at_ms):
                        channels.seen.pop(old, None)

    return answer


async def _answer(
    seen: faust.types.TableT[str, dict[str, Any]],
    resolver: TriggerResolver,
    request: RunRequested,
    key: str,
) -> Answer:
    row = seen.get(key)
    state = None if row is None else entry_of(row)
    outcome = dedup(state, request)
    if isinstance(outcome, Duplicate):
        return deduplicated(request, outcome.run_id, key)
    kept = outcome.remember
    seen[key] = {"run_id": kept.run_id, "requested_at_ms": kept.requested_at_ms}
    # Most triggers repeat a commit already read: answered here, without a hop to a thread.
    answer = resolver.resolve_at_once(request, key)
    if answer is None:
        answer = await asyncio.to_thread(resolver.resolve, request, key)
    if isinstance(answer, RunRejected):
        # A rejected request made no run: a repeat must be judged again (and rejected again,
        # with the same reason), never answered with the run_id of a run that never existed.
        _forget_rejected(seen, key, row)
    return answer


def _forget_rejected(
    seen: faust.types.TableT[str, dict[str, Any]], key: str, before: dict[str, Any] | None
) -> None:
    if before is None:
        seen.pop(key, None)
    else:
        seen[key] = before


def _decode_request(raw: bytes) -> RunRequested | None:
    try:
        event = decode_record(raw)
    except DomainError as e:  # not a record of ours (or not one this version knows)
        log.warning("skipping an unreadable trigger: %s", e)
        return None
    if not isinstance(event, RunRequested):
        log.warning("skipping a %s on the triggers topic", type(event).__name__)
        return None
    return event


def _resolver(settings: ServiceSettings, names: TopicNames, cache: Path) -> TriggerResolver:
    catalogue = PipelineCatalogue(
        settings, topic=names.pipelines, decode=_decode_message, partitions=PIPELINES.partitions
    )
    return TriggerResolver(catalogue=catalogue, source=PipelineSource(cache_dir=cache / "git"))


def _decode_message(msg: Message) -> object:
    value, topic, partition = msg.value() or b"", msg.topic(), msg.partition()
    return decode_record(value, topic=topic, partition=partition, offset=msg.offset())


def run(
    settings: ServiceSettings,
    *,
    prefix: str = "",
    stop: threading.Event | None = None,
    cache_dir: Path = _DEFAULT_CACHE,
    log_level: str = "warning",
    sweep_every: int = SWEEP_EVERY,
) -> None:
    """Run the processor until SIGTERM/SIGINT (or until ``stop`` is set)."""
    use_uvloop()
    names = TopicNames(prefix)
    datadir = cache_dir / "faust" / app_id(prefix)
    datadir.mkdir(parents=True, exist_ok=True)
    ensure_changelog(settings, prefix=prefix)
    resolver = _resolver(settings, names, cache_dir)
    app = build_app(
        settings, prefix=prefix, resolver=resolver, datadir=datadir, sweep_every=sweep_every
    )
    worker = configured_worker(app, log_level)
    if stop is not None:
        _stop_when_set(worker, stop)
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        if e.code not in (0, None):
            raise


def _stop_when_set(worker: faust.Worker, stop: threading.Event) -> None:
    def watch() -> None:
        stop.wait()
        if worker.loop.is_closed():
            return  # the worker already stopped on its own (SIGTERM reaches faust too)
        asyncio.run_coroutine_threadsafe(worker.stop(), worker.loop)

    threading.Thread(target=watch, name="sluice-triggers-stop", daemon=True).start()


@dataclass(frozen=True, kw_only=True)
class TriggerSettings:
    """The trigger processor's own settings (``SLUICE_CACHE_DIR``, ``SLUICE_LOG_LEVEL``,
    ``SLUICE_DEDUP_SWEEP_EVERY``)."""

    cache_dir: Path = _DEFAULT_CACHE
    log_level: str = "warning"
    sweep_every: int = SWEEP_EVERY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TriggerSettings:
        """Read the variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        return cls(
            cache_dir=Path(env.get("SLUICE_CACHE_DIR", str(cls.cache_dir))),
            log_level=env.get("SLUICE_LOG_LEVEL", cls.log_level),
            sweep_every=int(env.get("SLUICE_DEDUP_SWEEP_EVERY", str(cls.sweep_every))),
        )


def main() -> None:
    """``python -m projections.triggers``: run with the ``SLUICE_*`` settings."""
    settings, own = ServiceSettings.from_env(), TriggerSettings.from_env()
    run(
        settings,
        prefix=settings.topic_prefix,
        cache_dir=own.cache_dir,
        log_level=own.log_level,
        sweep_every=own.sweep_every,
    )


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so faust names the agent after
    # projections.triggers and one process never holds two copies of the app's module.
    importlib.import_module("projections.triggers").main()
