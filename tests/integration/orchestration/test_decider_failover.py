"""Killing a decider worker mid-stream (SIGKILL) loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from schemas.settings import ServiceSettings
from tests.integration.orchestration.test_runs_on_kafka import DIAMOND
from tests.support.leftovers import fresh_topic_prefix
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.waiting import eventually


@pytest.fixture
def stack_without_decider(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    prefix = fresh_topic_prefix("f")
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start(decider=False)
    yield s
    s.close()
    delete_topics(kafka_admin, topics)


def start_decider(prefix: str, worker_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLUICE_TOPIC_PREFIX": prefix}
    return subprocess.Popen(
        [sys.executable, "-m", "projections.decider", worker_id],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_decider_worker_loses_and_doubles_no_dispatch(
    stack_without_decider: Stack,
) -> None:
    stack = stack_without_decider
    workers = [start_decider(stack.prefix, "w1"), start_decider(stack.prefix, "w2")]
    try:
        first = stack.create_run(DIAMOND)
        stack.log.terminal(first, timeout=60)  # both workers are in the group by now
        runs = [first]
        for i in range(40):
            runs.append(stack.create_run(DIAMOND))
            if i == 10:
                workers[0].send_signal(signal.SIGKILL)
            time.sleep(0.02)
        for run_id in runs:
            assert stack.log.terminal(run_id, timeout=90) == "RunSucceeded"
    finally:
        for w in workers:
            w.kill()
            w.wait(10)
    taken = Counter((j.run_id, j.stage.name, j.attempt) for j in stack.runner.taken)
    assert set(taken.values()) == {1}, "an attempt was dispatched twice"
    for run_id in runs:
        names = stack.log.names_of(run_id)
        assert names.count("StageSucceeded") == 4
        assert names.count("StageQueued") == 4
    eventually(lambda: len(taken) == 4 * len(runs), what="every job")
