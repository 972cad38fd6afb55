"""Blue-green deployments: the whole green set checked, then one runtime command switches."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import httpx
import pytest

from orchestrator.domain.events import DeploymentAborted, DeploymentRolledBack, TrafficShifted
from runners.deployer.haproxy import HAProxy
from tests.integration.deploy.conftest import ended
from tests.support.deployapp import app_image, start_load
from tests.support.stack import Stack
from tests.support.waiting import eventually

PIPELINE = """
name: ship
stages:
  deploy:
    deploy:
      environment: {env}
      image: "{image}"
      replicas: 2
      strategy: {strategy}
      health_check: {{path: /healthz, interval: 200ms, healthy_deadline: {deadline}}}
{extra}"""


@pytest.fixture(scope="module")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    return {
        "v1": app_image(docker_client, "v1", VERSION="v1"),
        "v2": app_image(docker_client, "v2", VERSION="v2"),
        "sick": app_image(docker_client, "sick", VERSION="sick", HEALTHY="false"),
    }


def deploy(stack: Stack, env: str, image: str, *, blue_green: bool, deadline: str = "20s") -> str:
    strategy = "blue-green" if blue_green else "rolling"
    extra = "      scale_down_delay: 2s\n" if blue_green else ""
    yaml = PIPELINE.format(env=env, image=image, strategy=strategy, deadline=deadline, extra=extra)
    return stack.create_run(yaml)


def test_blue_green_switches_all_traffic_at_once_with_no_failed_request(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    first = deploy(stack, environment, images["v1"], blue_green=False)
    assert ended(stack, first, 60) == "RunSucceeded"
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    load = start_load(url, rate=250, seconds=15, answers=tmp_path / "answers")
    run = deploy(stack, environment, images["v2"], blue_green=True)
    assert ended(stack, run, 60) == "RunSucceeded"
    summary = load.finish()
    answers = load.lines()

    shifts = [e for e in stack.log.events[run] if isinstance(e, TrafficShifted)]
    assert len(shifts) == 1 and set(shifts[0].weights.values()) == {0, 100}
    last_v1 = max(sent for sent, _, version in answers if version == "v1")
    first_v2 = min(sent for sent, _, version in answers if version == "v2")
    assert last_v1 - first_v2 <= 1_000  # from the switch to 100 % green
    assert summary["failed"] == 0 and answers[-1][2] == "v2", summary


def test_a_green_set_that_never_gets_healthy_never_takes_traffic(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy
) -> None:
    first = deploy(stack, environment, images["v1"], blue_green=False)
    assert ended(stack, first, 60) == "RunSucceeded"
    run = deploy(stack, environment, images["sick"], blue_green=True, deadline="3s")
    assert stack.log.terminal(run, timeout=60) == "RunFailed"

    [rolled] = [e for e in stack.log.events[run] if isinstance(e, DeploymentRolledBack)]
    assert "not healthy within 3000 ms" in rolled.reason and rolled.to_image == images["v1"]
    assert not [e for e in stack.log.events[run] if isinstance(e, TrafficShifted)]
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    assert {httpx.get(url).text.strip() for _ in range(4)} == {"v1"}


def test_an_abort_while_blue_is_warm_switches_traffic_back_within_a_second(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    first = deploy(stack, environment, images["v1"], blue_green=False)
    assert ended(stack, first, 60) == "RunSucceeded"
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    yaml = PIPELINE.format(
        env=environment, image=images["v2"], strategy="blue-green", deadline="20s",
        extra="      scale_down_delay: 60s\n",
    )  # fmt: skip
    run = stack.create_run(yaml)
    switched = eventually(
        lambda: next((e for e in stack.log.events[run] if isinstance(e, TrafficShifted)), None),
        timeout=60,
        what="the switch to green",
    )
    assert {httpx.get(url).text.strip() for _ in range(4)} == {"v2"}
    load = start_load(url, rate=250, seconds=6, answers=tmp_path / "answers")
    time.sleep(1)
    asked = time.time_ns() // 1_000_000
    stack.send(
        DeploymentAborted(
            run_id=run, stage=switched.stage, attempt=switched.attempt, occurred_at_ms=asked,
            deployment_id=switched.deployment_id, environment=environment,
            requested_by="token:alice",
        )
    )  # fmt: skip
    assert stack.log.terminal(run, timeout=30) == "RunFailed"
    summary = load.result()
    answers = load.lines()

    [rolled] = [e for e in stack.log.events[run] if isinstance(e, DeploymentRolledBack)]
    assert rolled.reason == "aborted by token:alice while blue was warm"
    assert rolled.to_image == images["v1"]
    first_v1_again = min(sent for sent, _, version in answers if sent > asked and version == "v1")
    last_v2 = max(sent for sent, _, version in answers if version == "v2")
    assert first_v1_again - asked <= 1_000 and last_v2 - asked <= 1_000  # instant: blue was warm
    assert summary["failed"] == 0, summary
    assert {httpx.get(url).text.strip() for _ in range(4)} == {"v1"}
