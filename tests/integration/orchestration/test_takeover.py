"""kill -9 of the decider or the timers, then a restart: nothing accepted is lost or doubled.

The processes run as the operator runs them (``sluice processor NAME --worker-id ID``), are
killed with SIGKILL at a moment that leaves work in flight, and are started again with the
same id (static group membership: the restart gets its partitions back without waiting for
the dead member's session). The time it takes is measured by ``bench/takeover.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from schemas.settings import ServiceSettings
from tests.integration.orchestration.test_runs_on_kafka import DIAMOND
from tests.support.leftovers import fresh_topic_prefix
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.standin_runner import Outcome
from tests.support.waiting import eventually


def start_processor(name: str, prefix: str, worker_id: str) -> subprocess.Popen[bytes]:
    """``sluice processor NAME`` in its own process, as an operator runs it."""
    sluice = str(Path(sys.executable).parent / "sluice")
    args = ["--worker-id", worker_id, "--prefix", prefix, "--metrics-port", "0"]
    return subprocess.Popen(
        [sluice, "processor", name, *args],
        env={**os.environ, "SLUICE_TOPIC_PREFIX": prefix},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stack(kafka_admin: AdminClient, settings: ServiceSettings, **start: bool) -> Iterator[Stack]:
    prefix = fresh_topic_prefix("t")
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start(**start)
    yield s
    s.close()
    delete_topics(kafka_admin, topics)


@pytest.fixture
def stack_without_decider(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    yield from _stack(kafka_admin, settings, decider=False)


@pytest.fixture
def stack_without_timers(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    yield from _stack(kafka_admin, settings, timers=False)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_a_decider_killed_and_restarted_loses_and_doubles_no_dispatch(
    stack_without_decider: Stack,
) -> None:
    stack = stack_without_decider
    decider = start_processor("decider", stack.prefix, "w1")
    try:
        runs = [stack.create_run(DIAMOND)]
        stack.log.terminal(runs[0], timeout=60)
        for i in range(40):
            runs.append(stack.create_run(DIAMOND))
            if i == 15:
                _kill(decider)
                decider = start_processor("decider", stack.prefix, "w1")
            time.sleep(0.02)
        for run_id in runs:
            assert stack.log.terminal(run_id, timeout=90) == "RunSucceeded"
    finally:
        _kill(decider)
    taken = Counter((j.run_id, j.stage.name, j.attempt) for j in stack.runner.taken)
    assert set(taken.values()) == {1}, "an attempt was dispatched twice"
    for run_id in runs:
        names = stack.log.names_of(run_id)
        assert (names.count("StageQueued"), names.count("StageSucceeded")) == (4, 4)
    eventually(lambda: len(taken) == 4 * len(runs), what="every job")


def test_timers_killed_while_a_lease_runs_fire_it_once_after_the_restart(
    stack_without_timers: Stack,
) -> None:
    stack = stack_without_timers
    timers = start_processor("timers", stack.prefix, "t1")
    try:
        run_id = stack.create_run(
            DIAMOND,
            script=lambda job: Outcome(
                "hang" if (job.stage.name, job.attempt) == ("build", 1) else "succeed",
                lease_ms=3000,
            ),
        )
        eventually(lambda: "StageClaimed" in stack.log.names_of(run_id), what="the claim")
        _kill(timers)  # the lease of attempt 1 runs out while no timers process is alive
        time.sleep(4)
        timers = start_processor("timers", stack.prefix, "t1")
        assert stack.log.terminal(run_id, timeout=60) == "RunSucceeded"
    finally:
        _kill(timers)
    names = stack.log.names_of(run_id)
    assert names.count("StageLeaseExpired") == 1
    taken = [(j.stage.name, j.attempt) for j in stack.runner.taken if j.run_id == run_id]
    assert sorted(taken) == sorted(Counter(taken))  # no attempt taken twice
    assert taken[:2] == [("build", 1), ("build", 2)]
