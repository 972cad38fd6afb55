"""Canary deployments through the whole stack, judged on HAProxy's per-server counters."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import httpx
import pytest

from orchestrator.domain.events import (
    AnalysisMeasured,
    DeploymentAborted,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentRolledBack,
)
from runners.deployer.haproxy import HAProxy
from tests.integration.deploy.conftest import ended
from tests.support.deployapp import app_image, start_load
from tests.support.event_ids import DeploymentEventIds
from tests.support.stack import Stack
from tests.support.waiting import eventually

Decision = DeploymentPromoted | DeploymentAborted


class _DecisionIds(DeploymentEventIds):
    requested_by: str


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


def wait_paused(stack: Stack, run_id: str) -> DeploymentPaused:
    """The run's DeploymentPaused, once the log has it."""
    return eventually(
        lambda: next(
            (e for e in stack.log.events[run_id] if isinstance(e, DeploymentPaused)), None
        ),
        timeout=60,
        what="the canary to pause",
    )


def decision(paused: DeploymentPaused, kind: type[Decision], who: str = "token:alice") -> Decision:
    """A person's promote or abort of the paused deployment, as the API appends it."""
    ids: _DecisionIds = {
        "run_id": paused.run_id,
        "stage": paused.stage,
        "attempt": paused.attempt,
        "occurred_at_ms": time.time_ns() // 1_000_000,
        "deployment_id": paused.deployment_id,
        "environment": paused.environment,
        "requested_by": who,
    }
    if kind is DeploymentPromoted:
        return DeploymentPromoted(**ids, step=paused.step)
    return DeploymentAborted(**ids)


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
    summary = load.finish(tail_s=3.0)  # and no bad answer after the rollback
    errors = [sent for sent, status, _ in load.lines() if status >= 500]

    [measured] = analyses(stack, bad)
    assert measured.verdict == "fail" and measured.requests >= 20
    assert measured.errors / measured.requests > 0.1 and measured.stable_errors == 0
    assert errors and errors[-1] - errors[0] <= 5_000  # no bad answer 5 s after the first
    assert summary["failed"] == len(errors) <= 25, summary
    assert "DeploymentRolledBack" in stack.log.names_of(bad)


def test_a_canary_with_no_traffic_stays_inconclusive_pauses_and_is_never_promoted(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy
) -> None:
    on_v1(stack, environment, images)
    run = deploy(stack, environment, images["v2"], canary_pause="2s")
    paused = wait_paused(stack, run)
    time.sleep(3)  # paused, it stays so: nothing promotes it but a person
    assert "DeploymentSucceeded" not in stack.log.names_of(run)
    stack.send(decision(paused, DeploymentAborted))
    assert stack.log.terminal(run, timeout=60) == "RunFailed"

    [measured] = analyses(stack, run)
    assert (measured.verdict, measured.requests) == ("inconclusive", 0)
    assert paused.reason.startswith("analysis inconclusive")
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
    summary = load.finish()

    [measured] = analyses(stack, run)
    assert measured.verdict == "pass" and measured.requests >= 20
    assert summary["failed"] == 0 and load.lines()[-1][2] == "v2", summary


def test_a_manual_canary_step_pauses_until_a_person_promotes_it(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    on_v1(stack, environment, images)
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    load = start_load(url, rate=250, seconds=20, answers=tmp_path / "answers")
    run = deploy(stack, environment, images["v2"], canary_pause="manual", weight=20)
    paused = wait_paused(stack, run)
    time.sleep(2)  # the canary takes its share while paused
    assert "DeploymentSucceeded" not in stack.log.names_of(run)
    stack.send(decision(paused, DeploymentPromoted))
    assert ended(stack, run, 60) == "RunSucceeded"
    summary = load.finish()

    assert paused.reason == "pause: manual" and paused.canary_weight == 20
    [measured] = analyses(stack, run)
    assert measured.requests > 0 and measured.verdict == "pass"
    promoted = [e for e in stack.log.events[run] if isinstance(e, DeploymentPromoted)]
    assert [p.requested_by for p in promoted] == ["token:alice"]
    assert summary["failed"] == 0 and load.lines()[-1][2] == "v2", summary


def test_aborting_a_paused_canary_sends_all_traffic_back_to_stable(
    stack: Stack, environment: str, images: dict[str, str], haproxy: HAProxy, tmp_path: Path
) -> None:
    on_v1(stack, environment, images)
    url = f"http://127.0.0.1:{haproxy.port_of(environment)}/"
    run = deploy(stack, environment, images["v2"], canary_pause="manual", weight=50)
    paused = wait_paused(stack, run)
    assert "v2" in {httpx.get(url).text.strip() for _ in range(10)}  # the canary serves
    stack.send(decision(paused, DeploymentAborted, who="token:bob"))
    assert stack.log.terminal(run, timeout=60) == "RunFailed"

    [rolled] = [e for e in stack.log.events[run] if isinstance(e, DeploymentRolledBack)]
    assert rolled.reason == "aborted by token:bob while paused at 50%"
    assert rolled.to_image == images["v1"]
    assert {httpx.get(url).text.strip() for _ in range(10)} == {"v1"}


def test_a_second_promote_of_the_same_pause_is_refused(
    stack: Stack, environment: str, images: dict[str, str]
) -> None:
    on_v1(stack, environment, images)
    run = deploy(stack, environment, images["v2"], canary_pause="manual", weight=20)
    paused = wait_paused(stack, run)
    stack.send(decision(paused, DeploymentPromoted))
    stack.send(decision(paused, DeploymentPromoted, who="token:mallory"))
    assert ended(stack, run, 60) == "RunSucceeded"

    promoted = [e for e in stack.log.events[run] if isinstance(e, DeploymentPromoted)]
    assert [p.requested_by for p in promoted] == ["token:alice"]
