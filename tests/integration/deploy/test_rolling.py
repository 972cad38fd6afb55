"""Rolling deployments through the whole stack: decider, a real deployer, Docker, HAProxy,
under load from the bounded load generator (every answer recorded)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from orchestrator.domain.events import (
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    StageFailed,
)
from orchestrator.domain.statuses import FailureClass
from runners.deployer.haproxy import HAProxy
from tests.integration.deploy.conftest import ended
from tests.support.deployapp import app_image, start_load
from tests.support.stack import Stack

PIPELINE = """
name: ship
stages:
  deploy:
    deploy:
      environment: {env}
      image: "{image}"
      replicas: {replicas}
      health_check: {{path: /healthz, interval: 200ms, healthy_deadline: {deadline}}}
"""


@pytest.fixture(scope="module")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    return {
        "v1": app_image(docker_client, "v1", VERSION="v1"),
        "v2": app_image(docker_client, "v2", VERSION="v2"),
        "sick": app_image(docker_client, "sick", VERSION="sick", HEALTHY="false"),
    }


def deploy(stack: Stack, env: str, image: str, *, replicas: int = 3, deadline: str = "20s") -> str:
    """Run a one-stage pipeline deploying ``image``; return its run id."""
    yaml = PIPELINE.format(env=env, image=image, replicas=replicas, deadline=deadline)
    run_id = stack.create_run(yaml)
    return run_id


def test_a_rolling_update_under_load_fails_no_request(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    first = deploy(stack, environment, images["v1"])
    assert ended(stack, first, 60) == "RunSucceeded"
    port = haproxy.port_of(environment)
    load = start_load(
        f"http://127.0.0.1:{port}/", rate=250, seconds=45, answers=tmp_path / "answers"
    )
    second = deploy(stack, environment, images["v2"])
    assert ended(stack, second, 60) == "RunSucceeded"
    summary = load.finish()
    answers = load.lines()
    events = stack.log.events[second]
    began = next(e for e in events if isinstance(e, DeploymentStarted)).occurred_at_ms
    done = next(e for e in events if isinstance(e, DeploymentSucceeded)).occurred_at_ms

    assert summary["failed"] == 0, summary
    sent = [a[0] for a in answers]
    assert min(sent) < began and max(sent) > done  # the load spanned the rollout
    assert {"v1", "v2"} <= set(summary["by_version"])
    assert answers[-1][2] == "v2"
    names = stack.log.names_of(second)
    assert names.count("InstanceStarted") == 3 and names.count("InstanceHealthy") == 3
    assert "DeploymentSucceeded" in names and "TrafficShifted" in names


def test_a_never_healthy_version_is_rolled_back_while_v1_serves(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    first = deploy(stack, environment, images["v1"], replicas=2)
    assert ended(stack, first, 60) == "RunSucceeded"
    port = haproxy.port_of(environment)
    load = start_load(
        f"http://127.0.0.1:{port}/", rate=200, seconds=20, answers=tmp_path / "answers"
    )
    bad = deploy(stack, environment, images["sick"], replicas=2, deadline="5s")
    assert stack.log.terminal(bad, timeout=60) == "RunFailed"
    summary = load.finish()

    events = stack.log.events[bad]
    started = next(e for e in events if isinstance(e, DeploymentStarted))
    rolled = next(e for e in events if isinstance(e, DeploymentRolledBack))
    failed = next(e for e in events if isinstance(e, StageFailed))
    assert rolled.occurred_at_ms - started.occurred_at_ms <= 5_000 + 5_000
    assert "not healthy within 5000 ms" in rolled.reason and rolled.to_image == images["v1"]
    assert failed.failure_class is FailureClass.DETERMINISTIC
    assert summary["failed"] == 0 and set(summary["by_version"]) == {"v1"}, summary
