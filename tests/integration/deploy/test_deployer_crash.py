"""A deployer killed with -9 mid-rollout: the next one finishes the deployment from what
Docker and HAProxy show — no duplicate containers, no failed request — and every read
model still equals its replay from the log (``sluice replay --verify``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from orchestrator.cli import main
from orchestrator.domain.events import InstanceStarted
from projections.registry import run_all
from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL
from schemas.settings import ServiceSettings
from tests.integration.deploy.conftest import ended
from tests.support.deploy_pipelines import THREE_REPLICAS as PIPELINE
from tests.support.deployapp import LoadRun, app_image, start_load
from tests.support.leftovers import fresh_topic_prefix
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def bare(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    """Decider, timers and a stand-in runner; deployers are processes the test starts."""
    prefix = fresh_topic_prefix("k")
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start()
    yield s
    s.close()
    delete_topics(kafka_admin, topics)


@pytest.fixture
def projected(bare: Stack, pg_schema: str) -> Iterator[str]:
    """Every registered projection of the stack's topics, running into ``pg_schema``."""
    stop = threading.Event()
    kw = {"prefix": bare.prefix, "schema": pg_schema, "stop": stop}
    thread = threading.Thread(target=run_all, args=(bare.settings,), kwargs=kw, daemon=True)
    thread.start()
    yield pg_schema
    stop.set()
    thread.join(30)


def deployer(prefix: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*command, "deployer", "--prefix", prefix], stdout=out, stderr=subprocess.STDOUT
        )


@dataclass
class Rollout:
    """A second deployment whose deployer was killed (-9) mid-way and replaced."""

    run: str
    load: LoadRun | None


def deploy_killing_the_deployer(
    bare: Stack, tmp_path: Path, *, first: str, second: str, kill_after: str,
    load_on: tuple[HAProxy, str] | None = None, load_seconds: float = 40,
) -> Rollout:  # fmt: skip
    """Deploy ``first``, then ``second``; once ``second``'s run has ``kill_after`` in its
    history, kill the deployer with -9 and start another, which must finish it. With
    ``load_on`` (HAProxy, environment), a load of 250 requests/s on the environment's
    frontend (which the first deployment opens) runs from before the second deployment."""
    log = tmp_path / "deployer.log"
    processes = [deployer(bare.prefix, log)]
    load = None
    try:
        assert ended(bare, bare.create_run(first), 90) == "RunSucceeded"
        if load_on is not None:
            haproxy, environment = load_on
            url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
            load = start_load(url, rate=250, seconds=load_seconds, answers=tmp_path / "answers")
        run = bare.create_run(second)
        eventually(lambda: kill_after in bare.log.names_of(run), timeout=60, what=kill_after)
        os.kill(processes[0].pid, signal.SIGKILL)
        processes[0].wait(10)
        processes.append(deployer(bare.prefix, log))
        assert ended(bare, run, 120) == "RunSucceeded"
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
    return Rollout(run, load)


def test_a_deployer_killed_mid_rollout_is_replaced_without_duplicates_or_errors(
    bare: Stack,
    environment: str,
    haproxy: HAProxy,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    v1 = app_image(docker_client, "v1", VERSION="v1")
    v2 = app_image(docker_client, "v2", VERSION="v2")
    rollout = deploy_killing_the_deployer(
        bare, tmp_path,
        first=PIPELINE.format(env=environment, image=v1),
        second=PIPELINE.format(env=environment, image=v2),
        kill_after="InstanceHealthy",
        load_on=(haproxy, environment),
    )  # fmt: skip
    assert rollout.load is not None
    summary = rollout.load.finish()
    running = docker_client.containers.list(
        filters={"label": f"{ENV_LABEL}={environment}"}, ignore_removed=True
    )

    assert sorted(c.labels["sluice.image"] for c in running) == [v2] * 3
    assert summary["failed"] == 0, summary
    assert rollout.load.lines()[-1][2] == "v2"


CANARY = (
    PIPELINE
    + """      strategy: canary
      steps: [{{weight: 34, pause: 6s}}]
      analysis: {{max_error_rate: 0.1, min_requests: 20}}
"""
)


def test_a_deployer_killed_mid_canary_starts_the_canary_again_and_never_promotes_it_unjudged(
    bare: Stack,
    environment: str,
    haproxy: HAProxy,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    v1 = app_image(docker_client, "v1", VERSION="v1")
    v2 = app_image(docker_client, "v2", VERSION="v2")
    rollout = deploy_killing_the_deployer(
        bare, tmp_path,
        first=PIPELINE.format(env=environment, image=v1),
        second=CANARY.format(env=environment, image=v2),
        kill_after="TrafficShifted",
        load_on=(haproxy, environment),
        load_seconds=45,
    )  # fmt: skip
    assert rollout.load is not None
    summary = rollout.load.finish()
    running = docker_client.containers.list(
        filters={"label": f"{ENV_LABEL}={environment}"}, ignore_removed=True
    )
    started = [e for e in bare.log.events[rollout.run] if isinstance(e, InstanceStarted)]
    names = bare.log.names_of(rollout.run)
    judged = names.index("AnalysisMeasured")

    assert started[0].instance not in {c.name for c in running}  # the first deployer's canary
    assert names[:judged].count("InstanceStarted") == 2  # a new canary, judged before promotion
    assert sorted(c.labels["sluice.image"] for c in running) == [v2] * 3
    assert summary["failed"] == 0, summary


def test_after_a_deployer_killed_mid_rollout_every_read_model_equals_its_replay(
    *,
    bare: Stack,
    projected: str,
    environment: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1 = app_image(docker_client, "v1", VERSION="v1")
    v2 = app_image(docker_client, "v2", VERSION="v2")
    deploy_killing_the_deployer(
        bare, tmp_path,
        first=PIPELINE.format(env=environment, image=v1),
        second=PIPELINE.format(env=environment, image=v2),
        kill_after="InstanceHealthy",
    )  # fmt: skip
    eventually(
        lambda: deployments_projected(bare, projected, environment) == 2,
        timeout=60,
        what="both deployments in the environments read model",
    )
    code = main(["replay", "--verify", "--schema", projected, "--prefix", bare.prefix])
    out = capsys.readouterr().out

    assert code == 0, out
    # the module's topics hold the other tests' deployments too: at least this test's two
    counts = re.search(r"deployments: (\d+) live, (\d+) replayed, identical", out)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) >= 2, out
    assert re.search(r"environments: (\d+) live, \1 replayed, identical", out), out


def deployments_projected(stack: Stack, schema: str, environment: str) -> int:
    """How many finished deployments of ``environment`` the live read model holds."""
    with psycopg.connect(stack.settings.pg_dsn, options=f"-c search_path={schema}") as conn:
        row = conn.execute(
            "SELECT count(*) FROM deployments WHERE environment = %s AND outcome = 'succeeded'",
            (environment,),
        ).fetchone()
    return int(row[0]) if row else 0
