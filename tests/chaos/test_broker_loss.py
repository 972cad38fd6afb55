"""kill -9 of a broker of three while runs flow: every acknowledged run finishes, once.

The broker killed is the one coordinating the decider's transactions, which also leads
partitions of ``sluice.runs``; it comes back a few seconds later. Topics have replication 3
and ``min.insync.replicas=2``, so every write acknowledged before the kill is on another
broker and writes go on with two. How long progress stopped is measured by bench/chaos.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from schemas.eventlog import read_partition
from schemas.settings import ServiceSettings
from schemas.topics import RUNS, topic_configs
from tests.support.chaos import ChaosCluster, ChaosDeployment, Feeder, RunWatch
from tests.support.waiting import eventually

RUNS_FED = 14
pytestmark = pytest.mark.timeout(480)


@pytest.fixture
def watch(chaos: ChaosDeployment) -> Iterator[RunWatch]:
    """Every event of ``sluice.runs`` by run, followed until the test ends, passed or not."""
    following = RunWatch(chaos.settings, chaos.names)
    following.start()
    yield following
    following.stop.set()


def _all_ended(
    chaos: ChaosDeployment, watch: RunWatch, accepted: list[str], timeout: float = 240
) -> None:
    def ended() -> bool:
        open_runs = {r: watch.names_of(r)[-3:] for r in accepted if not watch.ended(r)}
        assert not open_runs, f"runs not ended yet (last events): {open_runs}"
        return True

    try:
        eventually(ended, timeout=timeout, interval=0.5)
    except AssertionError as e:
        open_runs = [r for r in accepted if not watch.ended(r)]
        raise AssertionError(f"{e}\n{chaos.diagnosis(open_runs)}") from e


def test_runs_survive_the_kill_of_the_broker_coordinating_the_deciders_transactions(
    chaos: ChaosDeployment, watch: RunWatch
) -> None:
    cluster = chaos.cluster
    feeder = Feeder(chaos, chaos.commits(RUNS_FED), pace_s=0.7)
    feeder.start()
    eventually(lambda: len(feeder.accepted) >= 4, timeout=120, what="runs to flow")
    victim = cluster.coordinator("__transaction_state", chaos.decider_txn_id)
    assert victim in cluster.leaders(chaos.names.runs).values()  # it leads runs partitions too

    cluster.kill(victim)
    time.sleep(6)  # runs go on with two brokers
    cluster.start(victim)
    feeder.join()
    _all_ended(chaos, watch, feeder.accepted)

    verdict = chaos.verdict(watch, feeder.accepted)
    assert not feeder.refused, f"refused: {feeder.refused}; lost: {feeder.lost}"
    assert len(feeder.accepted) == RUNS_FED
    assert verdict.unfinished == [] and verdict.failed == [], chaos.diagnosis(verdict.failed)
    assert verdict.succeeded_twice == [] and verdict.dispatched_twice == []
    chaos.wait_read_model(watch.resolved(feeder.accepted))
    replay = chaos.replay_verify()
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_runs_survive_the_kill_of_the_processors_and_the_runner_while_a_broker_is_down(
    chaos: ChaosDeployment, watch: RunWatch
) -> None:
    cluster = chaos.cluster
    cluster.wait_in_sync(chaos.topics())
    feeder = Feeder(chaos, chaos.commits(RUNS_FED), pace_s=0.7)
    feeder.start()
    eventually(lambda: len(feeder.accepted) >= 4, timeout=120, what="runs to flow")
    leaders = list(cluster.leaders(chaos.names.runs).values())
    victim = max(set(leaders), key=leaders.count)  # the leader of most sluice.runs partitions

    cluster.kill(victim)
    chaos.kill("processors")
    chaos.start("processors")
    chaos.kill("runner")
    chaos.start("runner")
    time.sleep(4)
    cluster.start(victim)
    feeder.join()
    _all_ended(chaos, watch, feeder.accepted)

    verdict = chaos.verdict(watch, feeder.accepted)
    assert verdict.unfinished == [] and verdict.failed == [], chaos.diagnosis(verdict.failed)
    assert verdict.succeeded_twice == [] and verdict.dispatched_twice == []
    chaos.wait_read_model(watch.resolved(feeder.accepted))
    replay = chaos.replay_verify()
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_topic_configs_on_three_brokers_survive_one_loss(chaos_cluster: ChaosCluster) -> None:
    """Writes acknowledged before a broker dies are all read back, and writes go on."""
    topic = f"loss{time.time_ns()}.sluice.runs"
    new = NewTopic(topic, 1, 3, config=topic_configs(RUNS, replication=3))
    chaos_cluster.admin().create_topics([new])[topic].result()
    out = Producer({"bootstrap.servers": chaos_cluster.bootstrap, "acks": "all"})
    for n in range(100):
        out.produce(topic, value=b"before %d" % n)
    assert out.flush(30) == 0
    leader = chaos_cluster.leaders(topic)[0]

    chaos_cluster.kill(leader)
    try:
        for n in range(100):
            out.produce(topic, value=b"after %d" % n)
        assert out.flush(60) == 0
        settings = ServiceSettings(kafka_bootstrap=chaos_cluster.bootstrap)
        values = [m.value() for m in read_partition(settings, topic, 0)]
    finally:
        chaos_cluster.start(leader)
    assert values == [b"before %d" % n for n in range(100)] + [b"after %d" % n for n in range(100)]
    chaos_cluster.admin().delete_topics([topic])[topic].result()
