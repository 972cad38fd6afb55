"""The decider: the only writer of ``sluice.runs``.

It reads ``sluice.inbox``, calls the pure ``decide(state, message)`` and, in ONE Kafka
transaction, appends the accepted message and every event decided to ``sluice.runs`` (on
the same partition number: the topics are co-partitioned by run_id), sends the jobs to the
priority topics and dead letters to ``sluice.jobs.dead``, and commits the inbox offsets. A
crash therefore never doubles or drops a dispatch.

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

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from orchestrator.domain import Decision, RunState, decide, evolve
from orchestrator.domain.retention import FinishedRun, Retention, finished_reason
from orchestrator.wire import decode_event, encode_event, encode_record
from projections.checkpoints import Loaded, load_partition
from projections.run_metrics import observe_events
from projections.working_state import PartitionState
from schemas.errors import DomainError
from schemas.eventlog import TopicNames, consumer, producer, read_partition
from schemas.metrics import (
    DECIDER_DECISION_SECONDS,
    DECIDER_EVENTS,
    DECIDER_IGNORED,
    DECIDER_JOBS,
    DECIDER_MALFORMED,
    PROCESSOR_EVENTS,
)
from schemas.settings import ServiceSettings

__all__ = ["CHECKPOINT_EVERY_S", "Decider", "DeciderStats", "rebuild_partition", "takeover_configs"]

log = logging.getLogger("sluice.decider")
_BATCH = 500
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
    ) -> None:
        self._settings = settings
        self._names = TopicNames(prefix)
        self._group = f"{prefix}sluice-decider"
        self._txn_id = f"{prefix}sluice-decider-{worker_id}"
        self._parts: dict[int, PartitionState] = {}
        self._retention = retention or Retention()
        self._checkpoint_every_s = checkpoint_every_s
        self._next_checkpoint = 0.0
        self._delivered: dict[int, int] = {}
        self._on_decision = on_decision
        self.stats = DeciderStats()
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Consume, decide and append until ``stop`` is set."""
        self._producer = producer(
            self._settings, transactional_id=self._txn_id, **{"transaction.timeout.ms": 5000}
        )
        self._producer.init_transactions(30)
        self._consumer = consumer(
            self._settings, group=self._group, **takeover_configs(self._txn_id)
        )
        self._consumer.subscribe(
            [self._names.inbox],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._revoked,
        )
        try:
            while not stop.is_set():
                batch = self._poll()
                if batch:
                    self._process(batch)
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def _poll(self) -> list[Message]:
        first = self._consumer.poll(0.1)
        if first is None:
            return []
        rest = self._consumer.consume(_BATCH - 1, timeout=0) if first.error() is None else []
        return [m for m in (first, *rest) if m.error() is None]

    def _assigned(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._load(tp.partition)
        log.info("decider %s owns %s", self._txn_id, sorted(self._parts))
        self.ready.set()

    def _load(self, partition: int) -> None:
        loaded = load_partition(self._settings, self._names, partition, self._retention)
        self._parts[partition] = loaded.state
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

    def _process(self, batch: list[Message]) -> None:
        self._delivered.clear()
        checkpointed: list[int] = []
        self._producer.begin_transaction()
        try:
            for msg in batch:
                self._handle(msg)
            # delivery reports give the offsets a checkpoint covers: all of them, or no checkpoint
            undelivered = self._producer.flush(30)
            self._apply_delivered()
            if undelivered == 0 and time.monotonic() >= self._next_checkpoint:
                checkpointed = self._checkpoint()
            offsets = _next_offsets(batch)
            self._producer.send_offsets_to_transaction(
                offsets, self._consumer.consumer_group_metadata(), 30
            )
            self._producer.commit_transaction(30)
        except KafkaException as e:
            self._recover(e, batch, checkpointed)
            return
        self.stats.transactions += 1

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
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = PartitionState(partition, self._retention)
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
            return
        self._emit(part, message.run_id, decision)
        observe_events(found if isinstance(found, RunState) else None, decision.events)

    def _emit(self, part: PartitionState, run_id: str, decision: Decision) -> None:
        key = run_id.encode()
        produce = self._producer.produce
        values = [encode_event(event) for event in decision.events]
        for value in values:
            produce(
                self._names.runs,
                key=key,
                value=value,
                partition=part.partition,
                on_delivery=self._on_delivery,
            )
        part.adopt(run_id, decision.state, decision.events, values)
        for job in decision.jobs:
            if job.stage.deploy is not None:  # the deployer's, keyed by environment
                env = job.stage.deploy.environment.encode()
                produce(self._names.deploy_jobs, key=env, value=encode_record(job))
            else:
                produce(self._names.job(str(job.priority)), key=key, value=encode_record(job))
        for dead in decision.dead_letters:
            produce(self._names.dead_letters, key=key, value=encode_record(dead))
        self.stats.events += len(decision.events)
        self.stats.jobs += len(decision.jobs)
        self.stats.dead_letters += len(decision.dead_letters)
        DECIDER_EVENTS.inc(len(decision.events))
        DECIDER_JOBS.inc(len(decision.jobs))
        PROCESSOR_EVENTS.labels("decider").inc(len(decision.events))

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
        if getattr(kafka_error, "fatal", lambda: False)():
            raise error  # fenced by a newer instance of this worker: let the process restart
        log.warning("transaction aborted, retrying the batch: %s", kafka_error)
        self._producer.abort_transaction(30)
        partitions = sorted({m.partition() or 0 for m in batch})
        for partition in sorted({*partitions, *checkpointed}):
            if partition in self._parts:
                self._load(partition)  # the aborted events are in memory: fold the log again
        committed = self._consumer.committed(
            [TopicPartition(self._names.inbox, p) for p in partitions], timeout=30
        )
        for tp in committed:
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))


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
