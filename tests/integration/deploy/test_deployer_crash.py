"""A deployer killed with -9 mid-rollout: the next one finishes the deployment from what
Docker and HAProxy show — no duplicate containers, no failed request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from confluent_kafka.admin import AdminClient

from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL
from schemas.settings import ServiceSettings
from tests.integration.deploy.conftest import ended
from tests.support.deployapp import app_image, start_load
from tests.support.stack import Stack, create_topics, delete_topics
from tests.support.waiting import eventually

PIPELINE = """
name: ship
stages:
  deploy:
    deploy:
      environment: {env}
      image: "{image}"
      replicas: 3
      health_check: {{path: /healthz, interval: 200ms, healthy_deadline: 20s}}
"""


@pytest.fixture(scope="module")
def bare(kafka_admin: AdminClient, settings: ServiceSettings) -> Iterator[Stack]:
    """Decider, timers and a stand-in runner; deployers are processes the test starts."""
    prefix = f"k{uuid.uuid4().hex[:8]}."
    topics = create_topics(kafka_admin, prefix)
    s = Stack(settings, prefix)
    s.start()
    yield s
    s.close()
    delete_topics(kafka_admin, topics)


def deployer(prefix: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*command, "deployer", "--prefix", prefix], stdout=out, stderr=subprocess.STDOUT
        )


def test_a_deployer_killed_mid_rollout_is_replaced_without_duplicates_or_errors(
    bare: Stack,
    environment: str,
    haproxy: HAProxy,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    v1 = app_image(docker_client, "v1", VERSION="v1")
    v2 = app_image(docker_client, "v2", VERSION="v2")
    first = deployer(bare.prefix, tmp_path / "deployer.log")
    try:
        run = bare.create_run(PIPELINE.format(env=environment, image=v1))
        assert ended(bare, run, 90) == "RunSucceeded"
        url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
        load = start_load(url, rate=250, seconds=40, answers=tmp_path / "answers")
        run = bare.create_run(PIPELINE.format(env=environment, image=v2))
        eventually(
            lambda: "InstanceHealthy" in bare.log.names_of(run), timeout=60, what="a v2 instance"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        second = deployer(bare.prefix, tmp_path / "deployer.log")
        try:
            assert ended(bare, run, 120) == "RunSucceeded"
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    summary = load.result()
    running = docker_client.containers.list(filters={"label": f"{ENV_LABEL}={environment}"})

    assert sorted(c.labels["sluice.image"] for c in running) == [v2] * 3
    assert summary["failed"] == 0, summary
    assert load.lines()[-1][2] == "v2"
