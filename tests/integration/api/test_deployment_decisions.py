"""POST /environments/{env}/deployments/{id}/promote|abort, and a rollback while a canary is
under way: a person's decision appended to the inbox, accepted by the decider's fence only
while it answers something, and shown by the environments read model."""

from __future__ import annotations

import time
import uuid

import pytest

from orchestrator.cli import main
from orchestrator.domain import RunEvent, StageClaimed
from orchestrator.domain.events import (
    DeploymentAborted,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentStarted,
    DeploymentSucceeded,
)
from orchestrator.domain.model import DeploySpec, StageSpec
from orchestrator.wire import encode_event
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, Pipeline
from tests.integration.api.test_protected_environments import audited, history_event, protect
from tests.support.event_ids import DeploymentAttemptIds, DeploymentEventIds, StageEventIds
from tests.support.runs import run_created
from tests.support.waiting import eventually


def send(deployment: Deployment, topic: str, events: list[RunEvent]) -> None:
    p = producer(deployment.settings)
    for e in events:
        p.produce(topic, key=e.run_id.encode(), value=encode_event(e))
    assert p.flush(10) == 0


def paused_canary(deployment: Deployment, pipeline: Pipeline, env: str) -> str:
    """A run whose canary deployment to ``env`` paused at step 4 (as a deployer reports it,
    through the inbox and the decider); returns the deployment id."""
    run_id = uuid.uuid4().hex
    spec = StageSpec(name="deploy", deploy=DeploySpec(environment=env, image="app:v2"))
    now = time.time_ns() // 1_000_000
    created = run_created([spec], run_id=run_id, pipeline_id=pipeline.pipeline_id)
    names = TopicNames(deployment.settings.topic_prefix)
    send(deployment, names.inbox, [created])
    stage: StageEventIds = {
        "run_id": run_id,
        "stage": "deploy",
        "attempt": 1,
        "occurred_at_ms": now,
    }
    ids: DeploymentEventIds = {**stage, "deployment_id": f"{run_id}/deploy/1", "environment": env}
    with deployment.client() as client:
        eventually(
            lambda: (
                [s["status"] for s in client.get(f"/runs/{run_id}").json().get("stages", [])]
                == ["queued"]
            ),
            timeout=30,
            what="the deploy stage to be queued",
        )
    send(
        deployment,
        names.inbox,
        [
            StageClaimed(**stage, runner_id="sluice-deployer", lease_deadline_ms=now + 60_000),
            DeploymentStarted(**ids, strategy="canary", image="app:v2", replicas=2),
            DeploymentPaused(**ids, step=4, canary_weight=20, reason="pause: manual"),
        ],
    )
    with deployment.client() as client:
        eventually(
            lambda: (
                [d["outcome"] for d in client.get(f"/environments/{env}/deployments").json()]
                == ["paused"]
                if client.get(f"/environments/{env}/deployments").status_code == 200
                else False
            ),
            timeout=30,
            what="the deployment to show paused",
        )
    return str(ids["deployment_id"])


def test_promoting_a_paused_canary_records_who_and_the_history_shows_it_running_again(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    deployment_id = paused_canary(deployment, pipeline, env)
    with deployment.client() as client:
        shown = client.get(f"/environments/{env}/deployments").json()[0]
        answer = client.post(f"/environments/{env}/deployments/{deployment_id}/promote")
    run_id = deployment_id.split("/")[0]
    promoted = history_event(deployment, run_id, DeploymentPromoted)

    assert (shown["paused_step"], shown["paused_reason"]) == (4, "pause: manual")
    assert answer.status_code == 202, answer.text
    assert (promoted.step, promoted.requested_by) == (4, "token:admin")
    with deployment.client() as client:
        eventually(
            lambda: (
                client.get(f"/environments/{env}/deployments").json()[0]["outcome"] == "running"
            ),
            timeout=20,
            what="the promoted deployment to run again",
        )


def test_promoting_a_deployment_that_is_not_paused_is_409(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    deployment_id = paused_canary(deployment, pipeline, env)
    run_id = deployment_id.split("/")[0]
    ids: DeploymentAttemptIds = {
        "run_id": run_id,
        "stage": "deploy",
        "attempt": 1,
        "environment": env,
        "deployment_id": deployment_id,
    }
    done = DeploymentSucceeded(**ids, occurred_at_ms=time.time_ns() // 1_000_000)
    send(deployment, TopicNames(deployment.settings.topic_prefix).inbox, [done])
    with deployment.client() as client:
        eventually(
            lambda: (
                client.get(f"/environments/{env}/deployments").json()[0]["outcome"] == "succeeded"
            ),
            timeout=20,
            what="the deployment to succeed",
        )
        answer = client.post(f"/environments/{env}/deployments/{deployment_id}/promote")

    assert answer.status_code == 409 and "succeeded, not paused" in answer.text


def test_a_rollback_while_a_canary_is_under_way_aborts_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    deployment_id = paused_canary(deployment, pipeline, env)
    with deployment.client() as client:
        answer = client.post(f"/environments/{env}/rollback", json={})
    aborted = history_event(deployment, deployment_id.split("/")[0], DeploymentAborted)

    assert answer.status_code == 202 and answer.json()["aborted"] == deployment_id
    assert aborted.deployment_id == deployment_id and aborted.requested_by == "token:admin"


def test_a_protected_environment_refuses_a_promote_without_its_deploy_scope(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    deployment_id = paused_canary(deployment, pipeline, env)
    protect(deployment, env)
    url = f"/environments/{env}/deployments/{deployment_id}/promote"
    with deployment.client(deployment.token("read", "trigger")) as client:
        refused = client.post(url)
    with deployment.client(deployment.token("read", "trigger", f"deploy:{env}")) as client:
        allowed = client.post(url)

    assert refused.status_code == 403 and f"deploy:{env}" in refused.text
    assert allowed.status_code == 202, allowed.text
    outcomes = {r["outcome"] for r in audited(deployment, "deployment.promote", env, 2)}
    assert outcomes == {"denied", "allowed"}


def test_sluice_env_abort_asks_the_deployer_to_roll_the_canary_back(
    deployment: Deployment,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    deployment_id = paused_canary(deployment, pipeline, env)
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))
    assert main(["env", "abort", env, deployment_id]) == 0

    assert f"abort of deployment {deployment_id} requested" in capsys.readouterr().out
    aborted = history_event(deployment, deployment_id.split("/")[0], DeploymentAborted)
    assert aborted.requested_by == "token:admin"
