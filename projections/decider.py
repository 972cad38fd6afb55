"""The decider: the only writer of ``sluice.runs``.

It reads ``sluice.inbox``, calls the pure ``decide(state, message)`` and, in ONE Kafka
transaction, appends the accepted message and every event decided to ``sluice.runs`` (on
the same partition number: the topics are co-partitioned by run_id), sends the jobs to the
priority topics and dead letters to ``sluice.jobs.dead``, and commits the inbox offsets. A
crash therefore never doubles or drops a dispatch.

Its state is a fold of ``sluice.runs`` (``evolve``): when it is given a partition it reads
that partition of ``sluice.runs`` to its end; no other changelog is needed. Several workers
share the partitions through the consumer group; a worker that was fenced off (its group
generation is gone) cannot commit, so its transaction aborts.

Why not faust's ``processing_guarantee="exactly_once"``: faust-streaming has open reports of
duplicates under it (faust-streaming/faust#517, #177). confluent-kafka's transactional
consume-transform-produce (KIP-447, with the consumer group metadata) is the proven path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from orchestrator.domain import Decision, RunState, decide, evolve
from orchestrator.wire import decode_event, encode_event, encode_record
from projections.run_metrics import observe_events
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

__all__ = ["Decider", "DeciderStats", "rebuild_partition"]

log = logging.getLogger("sluice.decider")
_BATCH = 500


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
    rebuilt_runs: int = 0


def rebuild_partition(
    settings: ServiceSettings, names: TopicNames, partition: int
) -> dict[str, RunState]:
    """Fold one partition of ``sluice.runs`` into the state of every run on it."""
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
    ) -> None:
        self._settings = settings
        self._names = TopicNames(prefix)
        self._group = f"{prefix}sluice-decider"
        self._txn_id = f"{prefix}sluice-decider-{worker_id}"
        self._states: dict[int, dict[str, RunState]] = {}
        self._on_decision = on_decision
        self.stats = DeciderStats()
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Consume, decide and append until ``stop`` is set."""
        self._producer = producer(self._settings, transactional_id=self._txn_id)
        self._producer.init_transactions(30)
        # a dead worker's partitions move on after 6 s, not the default 45 s
        self._consumer = consumer(
            self._settings,
            group=self._group,
            **{"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500},
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
            states = rebuild_partition(self._settings, self._names, tp.partition)
            self.stats.rebuilt_runs += len(states)
            self._states[tp.partition] = states
        log.info("decider %s owns %s", self._txn_id, sorted(self._states))
        self.ready.set()

    def _revoked(self, c: Consumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._states.pop(tp.partition, None)

    def _process(self, batch: list[Message]) -> None:
        staged: dict[tuple[int, str], RunState] = {}
        self._producer.begin_transaction()
        try:
            for msg in batch:
                self._handle(msg, staged)
            offsets = _next_offsets(batch)
            self._producer.send_offsets_to_transaction(
                offsets, self._consumer.consumer_group_metadata(), 30
            )
            self._producer.commit_transaction(30)
        except KafkaException as e:
            self._recover(e, batch)
            return
        for (partition, run_id), state in staged.items():
            self._states.setdefault(partition, {})[run_id] = state
        self.stats.transactions += 1

    def _handle(self, msg: Message, staged: dict[tuple[int, str], RunState]) -> None:
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
        key = (partition, message.run_id)
        state = staged.get(key) or self._states.get(partition, {}).get(message.run_id)
        started = time.perf_counter()
        decision = decide(state, message)
        DECIDER_DECISION_SECONDS.observe(time.perf_counter() - started)
        if self._on_decision is not None:
            self._on_decision(decision)
        if not decision.events:
            self.stats.ignored += 1
            DECIDER_IGNORED.inc()
            log.debug("ignored %s: %s", type(message).__name__, decision.ignored_reason)
            return
        if decision.state is not None:
            staged[key] = decision.state
        self._emit(partition, message.run_id, decision)
        observe_events(state, decision.events)

    def _emit(self, partition: int, run_id: str, decision: Decision) -> None:
        key = run_id.encode()
        produce = self._producer.produce
        for event in decision.events:
            produce(self._names.runs, key=key, value=encode_event(event), partition=partition)
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

    def _recover(self, error: KafkaException, batch: list[Message]) -> None:
        """Abort, forget what the batch changed, and read it again from the committed offsets."""
        kafka_error = error.args[0]
        if getattr(kafka_error, "fatal", lambda: False)():
            raise error  # fenced by a newer instance of this worker: let the process restart
        log.warning("transaction aborted, retrying the batch: %s", kafka_error)
        self._producer.abort_transaction(30)
        partitions = sorted({m.partition() or 0 for m in batch})
        committed = self._consumer.committed(
            [TopicPartition(self._names.inbox, p) for p in partitions], timeout=30
        )
        for tp in committed:
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))


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
