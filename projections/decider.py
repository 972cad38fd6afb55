"""The decider: the only writer of ``sluice.runs``.

It reads ``sluice.inbox``, calls the pure ``decide(state, message)`` and, in ONE Kafka
transaction, appends the accepted message and every event decided to ``sluice.runs`` (on
the same partition number: the topics are co-partitioned by run_id), sends the jobs to the
priority topics, dead letters to ``sluice.jobs.dead`` and the runners' copies of what
concerns them to ``sluice.runner-notices``
(:mod:`orchestrator.domain.runner_notices`), and commits the inbox offsets. A crash
therefore never doubles or drops a dispatch.

Its state is a fold of ``sluice.runs`` (``evolve``), held per partition as a
:class:`~projections.working_state.PartitionState`: the runs that may still change and what
fences the rest. Every few seconds the records of what changed go to ``sluice.checkpoints``
in the same transaction, so when it is given a partition it loads the newest checkpoint and
folds only the events after it (:mod:`projections.checkpoints`): a takeover costs the
working state and a few seconds of tail, not the history. Several workers share the
partitions through the consumer group; a worker that was fenced off (its group generation
is gone) cannot commit, so its transaction, checkpoint included, aborts.

Takeover timing (docs/recovery.md): static group membership (``group.instance.id`` = the
worker id) gives a restarted worker its partitions back at once; a worker that does not come
back loses them after ``session.timeout.ms`` (6 s, the broker's default minimum). A killed
worker's open transaction is aborted at once by its restart (same ``transactional.id``) or
after ``transaction.timeout.ms`` (5 s: a batch takes milliseconds) by the broker.

Why not faust's ``processing_guarantee="exactly_once"``: faust-streaming has open reports of
duplicates under it (faust-streaming/faust#517, #177). confluent-kafka's transactional
consume-transform-produce (KIP-447, with the consumer group metadata) is the proven path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from orchestrator.domain import Decision, RunEvent, RunState, decide, evolve
from orchestrator.domain.retention import FinishedRun, Retention, finished_reason
from orchestrator.domain.runner_notices import claim_refused, runner_notices
from orchestrator.wire import decode_event, encode_event, encode_record
from projections.checkpoints import Loaded, load_partition
from projections.gathering import ArrivalRate, TransactionPace, gathering_window, more_to_gather
from projections.partition_loader import LoadFailed, PartitionLoader
from projections.run_metrics import observe_events
from projections.working_state import PartitionState
from schemas.codec import is_newest
from schemas.errors import DomainError
from schemas.eventlog import (
    RESUMING_FETCH,
    TopicNames,
    consumer,
    is_fatal,
    producer,
    read_partition,
)
from schemas.metrics import (
    DECIDER_DECISION_SECONDS,
    DECIDER_EVENTS,
    DECIDER_IGNORED,
    DECIDER_JOBS,
    DECIDER_MALFORMED,
    PROCESSOR_EVENTS,
)
from schemas.settings import ServiceSettings
from schemas.topics import JOB_TOPICS_BY_PRIORITY

# A transaction's jobs of a priority all go to one partition of its topic, the next partition
# for the next transaction. librdkafka sends a produce request per partition, and the broker
# checks (KIP-890) and marks at the commit every partition a transaction touched: jobs
# partitioned by run id touched as many partitions of a job topic as the transaction had
# runs. Where a job lies means nothing to who runs it: the runners' feed copies every
# partition into the job queue, which orders by priority and age (runners.job_feed).
JOB_PARTITIONS = min(topic.partitions for topic in JOB_TOPICS_BY_PRIORITY.values())

__all__ = [
    "CHECKPOINT_EVERY_S",
    "Decider",
    "DeciderStats",
    "outgoing_value",
    "rebuild_partition",
    "takeover_configs",
]

log = logging.getLogger("sluice.decider")
_BATCH = 500
_COORDINATOR_ATTEMPTS = 6
CHECKPOINT_EVERY_S = 5.0  # a takeover folds at most this much tail beyond the checkpoint


@dataclass
class DeciderStats:
    """Counters a worker keeps (exported as metrics by the process that hosts it)."""

    messages: int = 0
    events: int = 0
    jobs: int = 0
    dead_letters: int = 0
    ignored: int = 0
    malformed: int = 0
    transactions: int = 0
    rebuilt_runs: int = 0  # runs restored from checkpoints or folded when given a partition
    tail_events: int = 0  # events of sluice.runs folded after the checkpoints
    checkpoints: int = 0  # checkpoint records written
    loads: list[Loaded] = field(default_factory=list)


def rebuild_partition(
    settings: ServiceSettings, names: TopicNames, partition: int
) -> dict[str, RunState]:
    """Fold one partition of ``sluice.runs`` from offset 0 into the state of every run on it."""
    states: dict[str, RunState] = {}
    for msg in read_partition(settings, names.runs, partition):
        event = decode_event(
            msg.value() or b"", topic=names.runs, partition=partition, offset=msg.offset()
        )
        state = evolve(states.get(event.run_id), event)
        if state is not None:
            states[event.run_id] = state
    return states


class Decider:
    """One decider worker; run it with :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        worker_id: str,
        prefix: str = "",
        on_decision: Callable[[Decision], None] | None = None,
        retention: Retention | None = None,
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
        exit_when_stuck_s: float | None = None,
    ) -> None:
        self._settings = settings
        self._arrivals = ArrivalRate()
        self._pace = TransactionPace()
        self._names = TopicNames(prefix)
        self._group = f"{prefix}sluice-decider"
        self._txn_id = f"{prefix}sluice-decider-{worker_id}"
        self._parts: dict[int, PartitionState] = {}
        self._retention = retention or Retention()
        self._checkpoint_every_s = checkpoint_every_s
        self._next_checkpoint = 0.0
        self._delivered: dict[int, int] = {}
        self._outgoing: list[_Outgoing] = []
        self._on_decision = on_decision
        self._exit_when_stuck_s = exit_when_stuck_s
        self._txn_since: float | None = None
        self._job_partition = -1  # the job topics' partition of the running transaction
        self.stats = DeciderStats()
        self.ready = threading.Event()  # set once the partitions first given are loaded

    def run(self, stop: threading.Event) -> None:
        """Consume, decide and append until ``stop`` is set.

        A fatal client error (its static membership fenced after the group coordinator
        died, say) restarts the worker in place, as a process restart would: new clients,
        its partitions loaded again. Transactions keep that safe whatever the cause.
        """
        if self._exit_when_stuck_s is not None:
            threading.Thread(target=self._watch, args=(stop,), daemon=True).start()
        while not stop.is_set():
            try:
                self._serve(stop)
            except KafkaException as e:
                log.error("decider %s starts again after a fatal error: %s", self._txn_id, e)
                self._parts.clear()
                stop.wait(1.0)

    def _load(self, partition: int) -> Loaded:
        return load_partition(self._settings, self._names, partition, self._retention)

    def _watch(self, stop: threading.Event) -> None:
        """Exit the process when one transaction takes longer than ``exit_when_stuck_s``.

        librdkafka's ``send_offsets_to_transaction`` can block past its timeout for good
        once the group coordinator died (confluentinc/librdkafka#5456, #5511, open). A
        thread stuck in C cannot be interrupted: the process exits (code 70) for its
        supervisor to start it again, which a takeover costs seconds, not a dead decider.
        """
        limit = self._exit_when_stuck_s or 0.0
        while not stop.wait(1.0):
            since = self._txn_since
            if since is not None and time.monotonic() - since > limit:
                log.critical("decider %s: a transaction is stuck for %.0f s (librdkafka#5456);"
                             " exiting to be restarted", self._txn_id, limit)  # fmt: skip
                logging.shutdown()
                os._exit(70)

    def _serve(self, stop: threading.Event) -> None:
        self._loader = PartitionLoader(self._load, name=f"load-{self._txn_id}")
        self._producer = self._new_producer()
        self._consumer = consumer(
            self._settings, group=self._group, **takeover_configs(self._txn_id), **RESUMING_FETCH
        )
        self._consumer.subscribe(
            [self._names.inbox],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._revoked,
        )
        try:
            while not stop.is_set():
                self._install_loaded()
                batch = self._poll()
                if batch:
                    self._process(batch)
                elif time.monotonic() >= self._next_checkpoint:
                    self._checkpoint_idle()
        finally:
            self._loader.close()
            with contextlib.suppress(KafkaException):  # a failed client has nothing to flush
                self._consumer.close()
                self._producer.flush(10)

    def _new_producer(self) -> Producer:
        """The transactional producer; starting it aborts what an older one left open."""
        made = producer(
            self._settings, transactional_id=self._txn_id, **{"transaction.timeout.ms": 5000}
        )
        made.init_transactions(60)
        return made

    def _poll(self) -> list[Message]:
        first = self._consumer.poll(0.1)
        if first is None:
            return []
        error = first.error()
        if error is not None and is_fatal(error):
            raise KafkaException(error)
        rest = self._consumer.consume(_BATCH - 1, timeout=0) if first.error() is None else []
        got = [m for m in (first, *rest) if m.error() is None]
        now = time.monotonic()
        self._arrivals = self._arrivals.seen(len(got), now)
        window = gathering_window(self._pace)
        more = more_to_gather(self._arrivals.per_s(now), window, len(got), _BATCH)
        if more:  # busy: a few ms more for a bigger transaction (projections.gathering)
            extra = [m for m in self._consumer.consume(more, window) if m.error() is None]
            self._arrivals = self._arrivals.seen(len(extra), time.monotonic())
            got += extra
        return got

    def _assigned(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        """Pause the partitions and load them beside the poll loop (projections.partition_loader:
        a load from offset 0 outlasts what ``max.poll.interval.ms`` allows a callback)."""
        c.incremental_assign(list(partitions))  # cooperative-sticky: the new ones only
        for tp in partitions:
            self._reload(tp.partition)
        log.info("decider %s given %s", self._txn_id, sorted(tp.partition for tp in partitions))

    def _reload(self, partition: int) -> None:
        """Forget the partition's state and pause it until the loader has folded it again."""
        self._parts.pop(partition, None)
        self._consumer.pause([TopicPartition(self._names.inbox, partition)])
        self._loader.ask(partition)

    def _install_loaded(self) -> None:
        for done in self._loader.finished():
            if isinstance(done, LoadFailed):
                log.warning("cannot load partition %s yet (%s): trying again",
                            done.partition, done.error)  # fmt: skip
                self._loader.ask(done.partition)
                continue
            self._install(done)
        if self._parts and not self._loader.pending and not self.ready.is_set():
            log.info("decider %s owns %s", self._txn_id, sorted(self._parts))
            self.ready.set()

    def _install(self, loaded: Loaded) -> None:
        partition = loaded.state.partition
        self._parts[partition] = loaded.state
        self._consumer.resume([TopicPartition(self._names.inbox, partition)])
        self.stats.rebuilt_runs += len(loaded.state.runs)
        self.stats.tail_events += loaded.tail_events
        self.stats.loads.append(loaded)
        log.info(
            "partition %s: %s checkpoint records, %s tail events%s, %.2f s",
            partition,
            loaded.checkpoint_records,
            loaded.tail_events,
            " (rebuilt from offset 0)" if loaded.rebuilt else "",
            loaded.seconds,
        )

    def _revoked(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp.partition, None)
            self._loader.forget(tp.partition)

    def _process(self, batch: list[Message]) -> None:
        batch = self._owned(batch)
        if not batch:
            return
        self._delivered.clear()
        self._outgoing.clear()
        checkpointed: list[int] = []
        self._job_partition = (self._job_partition + 1) % JOB_PARTITIONS
        self._txn_since = time.monotonic()
        try:
            self._producer.begin_transaction()
            for msg in batch:
                self._handle(msg)
            self._send_outgoing()
            if time.monotonic() >= self._next_checkpoint:
                checkpointed = self._flush_and_checkpoint()
            # The offsets go to the transaction while the batch's records are still in
            # flight (the two round trips overlap the produce), and commit_transaction
            # flushes: a transaction is 3 round trips deep, not 5 (docs/trigger-path.md).
            offsets = _next_offsets(batch)
            committing = time.monotonic()
            self._producer.send_offsets_to_transaction(
                offsets, self._consumer.consumer_group_metadata(), 30
            )
            self._producer.commit_transaction(30)
        except KafkaException as e:
            self._recover(e, batch, checkpointed)
            return
        finally:
            self._txn_since = None
        self._pace = self._pace.after(time.monotonic() - committing)
        self._producer.poll(0)  # delivery reports not yet served by the commit's flush
        self._apply_delivered()
        self.stats.transactions += 1

    def _checkpoint_idle(self) -> None:
        """Checkpoint what changed with no message to carry it: a partition just folded from
        offset 0 (or with a long tail) would otherwise wait for its next message, and a
        takeover before that would fold it all again."""
        if not any(part.dirty for part in self._parts.values()):
            self._next_checkpoint = time.monotonic() + self._checkpoint_every_s
            return
        checkpointed: list[int] = []
        self._txn_since = time.monotonic()
        try:
            self._producer.begin_transaction()
            checkpointed = self._checkpoint()
            self._producer.commit_transaction(30)
        except KafkaException as e:
            self._recover(e, [], checkpointed)
        finally:
            self._txn_since = None

    def _flush_and_checkpoint(self) -> list[int]:
        """Flush, then checkpoint if every record was delivered: delivery reports give the
        offsets a checkpoint covers, all of them or no checkpoint."""
        if self._producer.flush(30) != 0:
            return []
        self._apply_delivered()
        return self._checkpoint()

    def _owned(self, batch: list[Message]) -> list[Message]:
        """The messages of partitions whose state this worker loaded.

        A message fetched before its partition was revoked or lost can still come out of a
        poll. Deciding it on an empty state would append events without the run's history,
        and the next checkpoint of that partition would claim a position covering history
        it never read: every later reader of the checkpoint (the timers, the next owner)
        would miss the runs in between. It is dropped, and its offset is not committed:
        the partition's owner reads it again. A partition of this worker's still loading (it
        was fetched before the pause) is sought back to its first dropped message.
        """
        owned: list[Message] = []
        rewind: dict[int, int] = {}
        for m in batch:
            partition = m.partition() or 0
            if partition in self._parts:
                owned.append(m)
            elif partition in self._loader.pending:
                rewind.setdefault(partition, m.offset() or 0)
        for partition, offset in rewind.items():
            self._consumer.seek(TopicPartition(self._names.inbox, partition, offset))
        if len(owned) < len(batch):
            log.warning("dropped %d messages of partitions this worker does not own",
                        len(batch) - len(owned))  # fmt: skip
        return owned

    def _apply_delivered(self) -> None:
        for partition, offset in self._delivered.items():
            part = self._parts.get(partition)
            if part is not None:
                part.runs_offset = max(part.runs_offset, offset)

    def _checkpoint(self) -> list[int]:
        """Write what changed on every owned partition, in the running transaction."""
        written = []
        for partition, part in self._parts.items():
            if not part.dirty:
                continue
            written.append(partition)
            for key, value in part.take_checkpoint():
                self._producer.produce(
                    self._names.checkpoints, key=key, value=value, partition=partition
                )
                self.stats.checkpoints += 1
        self._next_checkpoint = time.monotonic() + self._checkpoint_every_s
        return written

    def _handle(self, msg: Message) -> None:
        partition = msg.partition() or 0
        self.stats.messages += 1
        try:
            message = decode_event(
                msg.value() or b"", topic=msg.topic(), partition=partition, offset=msg.offset()
            )
        except DomainError as e:
            self.stats.malformed += 1
            DECIDER_MALFORMED.inc()
            log.error("skipping a message the decider cannot read: %s", e)
            return
        part = self._parts[partition]  # _owned kept only messages of loaded partitions
        found = part.lookup(message.run_id)
        started = time.perf_counter()
        if isinstance(found, FinishedRun):
            decision = Decision(None, ignored_reason=finished_reason(found))
        else:
            decision = decide(found, message)
        DECIDER_DECISION_SECONDS.observe(time.perf_counter() - started)
        if self._on_decision is not None:
            self._on_decision(decision)
        if not decision.events:
            self.stats.ignored += 1
            DECIDER_IGNORED.inc()
            log.debug("ignored %s: %s", type(message).__name__, decision.ignored_reason)
            refusal = claim_refused(message, decision.ignored_reason)
            if refusal is not None:
                notice = encode_record(refusal)
                self._outgoing.append(
                    _Outgoing(self._names.runner_notices, refusal.runner_id.encode(), notice)
                )
            return
        before = found if isinstance(found, RunState) else None
        received = (message, msg.value() or b"")
        self._emit(part, message.run_id, decision, before, received)
        observe_events(before, decision.events)

    def _emit(
        self,
        part: PartitionState,
        run_id: str,
        decision: Decision,
        before: RunState | None,
        received: tuple[RunEvent, bytes],
    ) -> None:
        key = run_id.encode()
        out = self._outgoing.append
        values = [outgoing_value(event, received) for event in decision.events]
        runs = self._names.runs
        for value in values:
            out(_Outgoing(runs, key, value, part.partition))
        part.adopt(run_id, decision.state, decision.events, values)
        for runner, index in runner_notices(before, decision.events):
            out(_Outgoing(self._names.runner_notices, runner.encode(), values[index]))
        for job in decision.jobs:
            if job.stage.deploy is not None:  # the deployer's, keyed by environment
                env = job.stage.deploy.environment.encode()
                out(_Outgoing(self._names.deploy_jobs, env, encode_record(job)))
            else:
                topic = self._names.job(str(job.priority))
                out(_Outgoing(topic, key, encode_record(job), self._job_partition))
        for dead in decision.dead_letters:
            out(_Outgoing(self._names.dead_letters, key, encode_record(dead)))
        self.stats.events += len(decision.events)
        self.stats.jobs += len(decision.jobs)
        self.stats.dead_letters += len(decision.dead_letters)
        DECIDER_EVENTS.inc(len(decision.events))
        DECIDER_JOBS.inc(len(decision.jobs))
        PROCESSOR_EVENTS.labels("decider").inc(len(decision.events))

    def _send_outgoing(self) -> None:
        """Hand the batch's records to librdkafka together, once every message of it is
        decided. Produced one by one between decisions, a partition's records left in
        several produce requests (linger.ms is 1 and deciding a batch takes longer), each
        a request the broker serves (docs/trigger-path.md, item 24)."""
        produce, runs = self._producer.produce, self._names.runs
        for out in self._outgoing:
            if out.topic == runs:  # their delivery reports give the checkpoint's offsets
                produce(
                    out.topic,
                    key=out.key,
                    value=out.value,
                    partition=out.partition,
                    on_delivery=self._on_delivery,
                )
            else:
                produce(out.topic, key=out.key, value=out.value, partition=out.partition)
        self._outgoing.clear()

    def _on_delivery(self, error: object, msg: Message) -> None:
        if error is None:
            partition = msg.partition() or 0
            offset = (msg.offset() or 0) + 1
            self._delivered[partition] = max(self._delivered.get(partition, 0), offset)

    def _recover(
        self, error: KafkaException, batch: list[Message], checkpointed: list[int]
    ) -> None:
        """Abort, reload what the batch changed, and read it again from the committed offsets.

        Partitions whose checkpoint was in the aborted transaction are reloaded too: the
        checkpoint forgot which runs had changed, and it never reached the topic.
        """
        kafka_error = error.args[0]
        log.warning("transaction aborted, retrying the batch: %s", kafka_error)
        self._abort(fatal=is_fatal(kafka_error))
        partitions = sorted({m.partition() or 0 for m in batch})
        for partition in sorted({*partitions, *checkpointed}):
            if partition in self._parts:
                self._reload(partition)  # the aborted events are in memory: fold the log again
        for tp in self._committed(partitions) if partitions else []:
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))

    def _abort(self, *, fatal: bool) -> None:
        """Abort the open transaction. A producer that cannot is replaced: the new one, with
        the same ``transactional.id``, aborts what the old one left open. That happens when
        the transaction coordinator died with a transaction in flight: the new coordinator
        aborts it once it times out and bumps the epoch, which fences the old producer."""
        try:
            if not fatal:
                self._producer.abort_transaction(30)
                return
        except KafkaException as e:
            log.warning("cannot abort the transaction (%s): starting a new producer", e)
        self._producer = self._new_producer()

    def _committed(self, partitions: list[int]) -> list[TopicPartition]:
        """The inbox offsets committed for ``partitions``, asking again while the group
        coordinator moves (a broker that died may have been it)."""
        wanted = [TopicPartition(self._names.inbox, p) for p in partitions]
        for _ in range(_COORDINATOR_ATTEMPTS):
            try:
                return list(self._consumer.committed(wanted, timeout=10))
            except KafkaException as e:
                log.warning("cannot read the committed offsets yet: %s", e)
        return list(self._consumer.committed(wanted, timeout=30))


_BY_KEY = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the producer's partitioner picks


class _Outgoing(NamedTuple):
    """A record the running transaction will append."""

    topic: str
    key: bytes
    value: bytes
    partition: int = _BY_KEY


def takeover_configs(member_id: str | None) -> dict[str, object]:
    """Consumer settings for a takeover within seconds (docs/recovery.md).

    Static membership: a worker restarted with the same id rejoins with its partitions and
    no rebalance; one that does not come back is dropped after the session timeout (6 s, the
    broker's ``group.min.session.timeout.ms`` default) and its partitions move on.
    """
    static = {"group.instance.id": member_id} if member_id else {}
    return {
        **static,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 60000,
    }


def outgoing_value(event: RunEvent, received: tuple[RunEvent, bytes]) -> bytes:
    """``event`` as it goes on ``sluice.runs``: the accepted message is passed on in the bytes
    it came in (when they are the newest schema's), not encoded again: a ``RunCreated``
    carries every stage's spec, and encoding it cost as much as deciding it."""
    message, value = received
    return value if event is message and is_newest(value) else encode_event(event)


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        last[(msg.topic() or "", msg.partition() or 0)] = (msg.offset() or 0) + 1
    return [TopicPartition(t, p, o) for (t, p), o in last.items()]


def main() -> None:
    """``python -m projections.decider [WORKER_ID]``: one worker with the SLUICE_* settings."""
    import signal  # noqa: PLC0415
    import sys  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = ServiceSettings.from_env()
    worker_id = sys.argv[1] if len(sys.argv) > 1 else "w1"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Decider(settings=settings, prefix=settings.topic_prefix, worker_id=worker_id).run(stop)


if __name__ == "__main__":
    main()
