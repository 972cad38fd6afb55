"""Many triggers in one decider transaction: each still dispatched exactly once.

The decider takes what the inbox holds (up to 500 messages) into one transaction, and sends
its offsets to that transaction while the records are still in flight. A burst must land in
fewer transactions than messages, every run must get its one job, and the inbox offsets the
transactions committed must be the end of the burst, so a decider started again afterwards
dispatches nothing twice. A transaction's jobs go to one partition of the job topic, the next
transaction's to the next one: fewer partitions a transaction, the same spread over time.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from orchestrator.domain import parse_pipeline
from orchestrator.wire import decode_record, encode_event
from projections.decider import JOB_PARTITIONS, Decider
from schemas.eventlog import TopicNames, consumer, end_offsets, producer
from schemas.settings import ServiceSettings
from schemas.topics import INBOX
from tests.support.leftovers import fresh_topic_prefix
from tests.support.runs import run_created
from tests.support.stack import create_topics, delete_topics
from tests.support.waiting import eventually

ONE_STAGE = parse_pipeline("name: one\nstages:\n  build: {script: ['true']}\n").stages
BURST = 300


@pytest.fixture
def names(kafka_admin: AdminClient) -> Iterator[TopicNames]:
    prefix = fresh_topic_prefix("b")
    topics = create_topics(kafka_admin, prefix)
    yield TopicNames(prefix)
    delete_topics(kafka_admin, topics)


def start(
    settings: ServiceSettings, names: TopicNames, stop: threading.Event
) -> tuple[Decider, threading.Thread]:
    decider = Decider(settings=settings, prefix=names.prefix, worker_id="batches")
    thread = threading.Thread(target=decider.run, args=(stop,), daemon=True)
    thread.start()
    eventually(decider.ready.is_set, timeout=60, what="the decider to own partitions")
    return decider, thread


def burst(settings: ServiceSettings, names: TopicNames) -> set[str]:
    p = producer(settings)
    run_ids = {uuid.uuid4().hex for _ in range(BURST)}
    for run_id in run_ids:
        message = run_created(ONE_STAGE, run_id=run_id)
        p.produce(names.inbox, key=run_id.encode(), value=encode_event(message))
    assert p.flush(30) == 0
    return run_ids


@dataclass(frozen=True)
class JobTopic:
    """What the normal-priority job topic holds: each job's run id and partition, and each
    partition's end offset (its records plus one commit marker a transaction that wrote to it)."""

    jobs: list[tuple[str, int]]
    ends: dict[int, int]

    def markers(self) -> int:
        """The commit markers: how many partitions the transactions touched, summed."""
        return sum(self.ends.values()) - len(self.jobs)


def jobs(settings: ServiceSettings, names: TopicNames) -> list[str]:
    """The run id of every job on the normal-priority topic, from its start to its end."""
    return [run_id for run_id, _ in job_topic(settings, names).jobs]


def job_topic(settings: ServiceSettings, names: TopicNames) -> JobTopic:
    """Every job on the normal-priority topic, read to its end."""
    c = consumer(settings, group=f"read-{uuid.uuid4().hex}")
    topic = names.job("normal")
    ends = end_offsets(c, topic, list(range(INBOX.partitions)))
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    seen: list[tuple[str, int]] = []
    positions = dict.fromkeys(ends, 0)

    def caught_up() -> bool:
        for msg in c.consume(500, timeout=0.2):
            if msg.error() is None:
                seen.append((decode_record(msg.value() or b"").run_id, msg.partition() or 0))
        at = c.position([TopicPartition(topic, p) for p in ends])
        positions.update({tp.partition: tp.offset for tp in at if tp.offset >= 0})
        return all(positions[p] >= end for p, end in ends.items())

    eventually(caught_up, timeout=60, what="every job to be read")
    c.close()
    return JobTopic(seen, ends)


def decided_burst(settings: ServiceSettings, names: TopicNames) -> tuple[Decider, set[str]]:
    """A burst decided by a decider stopped once every run has its job: the decider, the runs."""
    stop = threading.Event()
    decider, thread = start(settings, names, stop)
    run_ids = burst(settings, names)
    eventually(lambda: decider.stats.jobs >= BURST, timeout=60, what="a job per run")
    stop.set()
    thread.join(30)
    return decider, run_ids


def test_a_burst_shares_transactions_and_each_run_is_dispatched_exactly_once(
    settings: ServiceSettings, names: TopicNames
) -> None:
    decider, run_ids = decided_burst(settings, names)
    assert decider.stats.transactions < BURST  # batched: many triggers per transaction
    dispatched = jobs(settings, names)
    assert sorted(dispatched) == sorted(run_ids)  # every run once, none twice


def test_a_decider_started_again_after_a_burst_dispatches_nothing_twice(
    settings: ServiceSettings, names: TopicNames
) -> None:
    first = threading.Event()
    decider, thread = start(settings, names, first)
    run_ids = burst(settings, names)
    eventually(lambda: decider.stats.jobs >= BURST, timeout=60, what="a job per run")
    first.set()
    thread.join(30)
    again = threading.Event()
    restarted, thread = start(settings, names, again)
    late = burst(settings, names)  # proves the restarted decider is consuming
    eventually(lambda: restarted.stats.jobs >= BURST, timeout=60, what="the second burst")
    again.set()
    thread.join(30)
    assert restarted.stats.messages == BURST  # the first burst's offsets were committed
    assert sorted(jobs(settings, names)) == sorted(run_ids | late)


def test_a_transaction_sends_all_its_jobs_to_one_partition_of_the_job_topic(
    settings: ServiceSettings, names: TopicNames
) -> None:
    decider, run_ids = decided_burst(settings, names)
    assert decider.stats.transactions < BURST  # batched: a transaction holds several runs

    # One commit marker a transaction: partitioned by run id, a transaction's runs would have
    # marked as many partitions as they were spread over. (The coordinator writes markers
    # after the commit returns: read until every job and marker is there.)
    def one_marker_a_transaction() -> bool:
        topic = job_topic(settings, names)
        return len(topic.jobs) == BURST and topic.markers() == decider.stats.transactions

    eventually(one_marker_a_transaction, timeout=30, what="one commit marker a transaction")
    assert sorted(jobs(settings, names)) == sorted(run_ids)


def jobs_reach(decider: Decider, n: int) -> bool:
    return decider.stats.jobs >= n


def test_transactions_one_after_another_spread_their_jobs_over_every_partition(
    settings: ServiceSettings, names: TopicNames
) -> None:
    stop = threading.Event()
    decider, thread = start(settings, names, stop)
    p = producer(settings)
    for n in range(1, 2 * JOB_PARTITIONS + 1):  # one trigger a transaction
        message = run_created(ONE_STAGE)
        p.produce(names.inbox, key=message.run_id.encode(), value=encode_event(message))
        assert p.flush(30) == 0
        eventually(partial(jobs_reach, decider, n), timeout=30, what=f"job {n}")
    stop.set()
    thread.join(30)
    per_partition = Counter(partition for _, partition in job_topic(settings, names).jobs)
    assert per_partition == dict.fromkeys(range(JOB_PARTITIONS), 2)
