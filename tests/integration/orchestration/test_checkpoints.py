"""Checkpoints on the real Kafka: checkpoint + tail folds to what a fold from offset 0 gives."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from orchestrator.domain import Decision, RunState, StageRetryRequested, parse_pipeline
from orchestrator.domain.retention import FinishedRun, Retention, leaves_working_state
from orchestrator.wire import encode_event
from projections.checkpoints import load_partition
from projections.decider import Decider, rebuild_partition
from schemas.eventlog import TopicNames, partition_for, producer
from schemas.settings import ServiceSettings
from schemas.topics import RUN_PARTITIONS
from tests.integration.orchestration.test_runs_on_kafka import DIAMOND, now_ms
from tests.support.leftovers import fresh_topic_prefix
from tests.support.runs import run_created
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.waiting import eventually
from tests.unit.domain.domain_helpers import Driver, diamond

HOUR = 3_600_000
RETENTION = Retention(reopen_ms=HOUR, manual_ms=HOUR, fence_ms=50 * HOUR)
RUNS = 600


@pytest.fixture
def names(kafka_admin: AdminClient) -> Iterator[TopicNames]:
    prefix = fresh_topic_prefix("k")
    topics = create_topics(kafka_admin, prefix)
    yield TopicNames(prefix)
    delete_topics(kafka_admin, topics)


def _history(settings: ServiceSettings, names: TopicNames) -> list[str]:
    """RUNS finished diamond runs, one a minute of log time (100 h), and one live run each
    hour, appended to sluice.runs as a decider would have appended them."""
    out = producer(settings)
    run_ids = []
    for n in range(RUNS):
        driver = Driver(diamond(), run_id=f"r{n:05d}", now=n * 10 * 60_000)
        for stage in ("build", "lint", "test", "package")[: 4 if n % 60 else 1]:
            driver.run_stage(stage)
        partition = partition_for(driver.run_id, RUN_PARTITIONS)
        for event in driver.log:
            out.produce(
                names.runs,
                key=driver.run_id.encode(),
                value=encode_event(event),
                partition=partition,
            )
        run_ids.append(driver.run_id)
    assert out.flush(30) == 0
    return run_ids


def _seen_through_retention(states: dict[str, RunState], clock: int) -> dict[str, object]:
    seen: dict[str, object] = {}
    for run_id, state in states.items():
        if not leaves_working_state(state, clock, RETENTION):
            seen[run_id] = state
        elif clock - (state.finished_at_ms or 0) <= RETENTION.fence_ms:
            seen[run_id] = FinishedRun(run_id, state.status, state.finished_at_ms or 0)
    return seen


def _decide_once(settings: ServiceSettings, names: TopicNames, run_id: str) -> Decider:
    """Run a decider until it has handled one message (a duplicate report) and checkpointed."""
    decider = Decider(
        settings=settings,
        prefix=names.prefix,
        worker_id="ck",
        retention=RETENTION,
        checkpoint_every_s=0,
    )
    stop = threading.Event()
    thread = threading.Thread(target=decider.run, args=(stop,), daemon=True)
    thread.start()
    eventually(decider.ready.is_set, timeout=180, what="the decider to own partitions")
    first = Driver(diamond(), run_id=run_id).log[0]  # a duplicate RunCreated: ignored
    out = producer(settings)
    out.produce(names.inbox, key=run_id.encode(), value=encode_event(first))
    assert out.flush(10) == 0
    eventually(lambda: decider.stats.transactions >= 1, timeout=180, what="a transaction")
    stop.set()
    thread.join(30)
    return decider


def test_a_checkpoint_and_its_tail_fold_to_the_full_fold_of_a_long_history(
    settings: ServiceSettings, names: TopicNames
) -> None:
    run_ids = _history(settings, names)

    first = _decide_once(settings, names, run_ids[0])

    assert all(load.rebuilt for load in first.stats.loads)  # no checkpoint yet: from offset 0
    for partition in range(RUN_PARTITIONS):
        loaded = load_partition(settings, names, partition, RETENTION)
        full = rebuild_partition(settings, names, partition)
        assert not loaded.rebuilt and loaded.tail_events == 0
        assert loaded.state.runs_offset > 0
        assert loaded.state.view() == _seen_through_retention(full, loaded.state.clock_ms)
        assert len(loaded.state.runs) < len(full) / 4  # finished runs left the working state


def test_a_decider_given_a_checkpointed_partition_folds_only_the_tail(
    settings: ServiceSettings, names: TopicNames
) -> None:
    run_ids = _history(settings, names)
    _decide_once(settings, names, run_ids[0])

    again = _decide_once(settings, names, run_ids[1])

    assert not any(load.rebuilt for load in again.stats.loads)
    assert sum(load.tail_events for load in again.stats.loads) == 0


def test_a_partition_folded_from_offset_0_is_checkpointed_with_no_message_to_carry_it(
    settings: ServiceSettings, names: TopicNames
) -> None:
    _history(settings, names)
    decider = Decider(settings=settings, prefix=names.prefix, worker_id="idle", retention=RETENTION)
    stop = threading.Event()
    thread = threading.Thread(target=decider.run, args=(stop,), daemon=True)
    thread.start()
    try:
        eventually(decider.ready.is_set, timeout=180, what="the decider to own partitions")

        loads = eventually(
            lambda: all(not (load := load_partition(settings, names, p, RETENTION)).rebuilt
                        and load.tail_events == 0 for p in range(RUN_PARTITIONS)),
            timeout=60,
            interval=1,
            what="every partition checkpointed up to its end",
        )  # fmt: skip
    finally:
        stop.set()
        thread.join(30)

    assert loads and decider.stats.transactions == 0  # no message came: idle checkpoints only


@pytest.fixture
def short_memory_stack(
    kafka_admin: AdminClient, settings: ServiceSettings
) -> Iterator[tuple[Stack, list[Decision]]]:
    """A stack whose decider lets a finished run leave its working state 1 ms after it ended."""
    prefix = fresh_topic_prefix("k")
    topics = create_topics(kafka_admin, prefix)
    stack = Stack(settings, prefix)
    decisions: list[Decision] = []
    stack.decider = Decider(
        settings=settings,
        prefix=prefix,
        worker_id="short",
        retention=Retention(reopen_ms=1, manual_ms=1, fence_ms=HOUR),
        on_decision=decisions.append,
    )
    stack.start()
    yield stack, decisions
    stack.close()
    delete_topics(kafka_admin, topics)


def _same_partition(run_id: str) -> str:
    wanted = partition_for(run_id, RUN_PARTITIONS)
    while partition_for(candidate := uuid.uuid4().hex, RUN_PARTITIONS) != wanted:
        pass
    return candidate


def test_a_retry_of_a_run_that_left_the_working_state_is_ignored_with_its_reason(
    short_memory_stack: tuple[Stack, list[Decision]],
) -> None:
    stack, decisions = short_memory_stack
    run_id = stack.create_run(DIAMOND)
    assert stack.log.terminal(run_id, timeout=90) == "RunSucceeded"
    later = _same_partition(run_id)  # a run on its partition moves the log clock on
    stack.send(run_created(parse_pipeline(DIAMOND).stages, run_id=later))
    stack.log.terminal(later, timeout=90)

    stack.send(
        StageRetryRequested(
            run_id=run_id, stage="build", requested_by="bob", occurred_at_ms=now_ms()
        )
    )

    ignored = eventually(
        lambda: next(
            (d for d in list(decisions) if d.ignored_reason and run_id in d.ignored_reason), None
        ),
        timeout=60,
        what="the retry to be answered",
    )
    assert "left the decider's working state" in (ignored.ignored_reason or "")
    assert stack.log.names_of(run_id).count("StageQueued") == 4  # nothing ran again
