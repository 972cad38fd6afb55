"""Canary deployments through the whole stack, judged on HAProxy's per-server counters."""

from __future__ import annotations

from pathlib import Path

import docker
import httpx
import pytest

from orchestrator.domain.events import AnalysisMeasured
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
      replicas: 2
      strategy: {strategy}
      health_check: {{path: /healthz, interval: 200ms, healthy_deadline: 20s}}
{extra}"""
CANARY = """      steps: [{{weight: {weight}, pause: {pause}}}]
      analysis: {{max_error_rate: 0.1, min_requests: 20}}
"""


@pytest.fixture(scope="module")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    return {
        "v1": app_image(docker_client, "v1", VERSION="v1"),
        "v2": app_image(docker_client, "v2", VERSION="v2"),
        "half-bad": app_image(docker_client, "half-bad", VERSION="bad", FAIL_PERCENT="50"),
    }


def deploy(
    stack: Stack, env: str, image: str, *, canary_pause: str | None = None, weight: int = 20
) -> str:
    if canary_pause is None:
        yaml = PIPELINE.format(env=env, image=image, strategy="rolling", extra="")
    else:
        extra = CANARY.format(pause=canary_pause, weight=weight)
        yaml = PIPELINE.format(env=env, image=image, strategy="canary", extra=extra)
    run_id = stack.create_run(yaml)
    return run_id


def on_v1(stack: Stack, env: str, images: dict[str, str]) -> None:
    first = deploy(stack, env, images["v1"])
    assert ended(stack, first, 60) == "RunSucceeded"


def analyses(stack: Stack, run_id: str) -> list[AnalysisMeasured]:
    return [e for e in stack.log.events[run_id] if isinstance(e, AnalysisMeasured)]


def test_a_canary_answering_half_errors_is_cut_off_within_seconds(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    on_v1(stack, environment, images)
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    load = start_load(url, rate=250, seconds=15, answers=tmp_path / "answers")
    bad = deploy(stack, environment, images["half-bad"], canary_pause="30s", weight=10)
    assert stack.log.terminal(bad, timeout=60) == "RunFailed"
    summary = load.result()
    errors = [sent for sent, status, _ in load.lines() if status >= 500]

    [measured] = analyses(stack, bad)
    assert measured.verdict == "fail" and measured.requests >= 20
    assert measured.errors / measured.requests > 0.1 and measured.stable_errors == 0
    assert errors and errors[-1] - errors[0] <= 5_000  # no bad answer 5 s after the first
    assert summary["failed"] == len(errors) <= 25, summary
    assert "DeploymentRolledBack" in stack.log.names_of(bad)


def test_a_canary_with_no_traffic_stays_inconclusive_and_is_never_promoted(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy
) -> None:
    on_v1(stack, environment, images)
    run = deploy(stack, environment, images["v2"], canary_pause="2s")
    assert stack.log.terminal(run, timeout=60) == "RunFailed"

    [measured] = analyses(stack, run)
    assert (measured.verdict, measured.requests) == ("inconclusive", 0)
    assert "DeploymentSucceeded" not in stack.log.names_of(run)
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    assert {httpx.get(url).text.strip() for _ in range(6)} == {"v1"}


def test_a_good_canary_is_promoted_with_no_failed_request(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    on_v1(stack, environment, images)
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    load = start_load(url, rate=250, seconds=15, answers=tmp_path / "answers")
    run = deploy(stack, environment, images["v2"], canary_pause="3s")
    assert ended(stack, run, 60) == "RunSucceeded"
    summary = load.result()

    [measured] = analyses(stack, run)
    assert measured.verdict == "pass" and measured.requests >= 20
    assert summary["failed"] == 0 and load.lines()[-1][2] == "v2", summary
