"""Manual stages played through the API, and protected environments: playing or rolling back
a protected environment's deploys needs a token with ``deploy:<env>`` (or admin); a refusal
is 403 with the reason, and audited."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from orchestrator.api.tokens import InvalidScope, create_token
from orchestrator.cli import main
from orchestrator.domain import parse_pipeline
from orchestrator.domain.events import StageStartRequested
from orchestrator.wire import decode_event, encode_event
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, Pipeline
from tests.integration.api.test_environments_api import next_deploy_job, serving_v2_after_v1
from tests.support.records import read_kept
from tests.support.runs import run_created
from tests.support.waiting import eventually

MANUAL_DEPLOY = """
name: ship
stages:
  deploy-prod:
    when: {{manual: true}}
    deploy:
      environment: {env}
      image: "app:v1"
      strategy: rolling
      health_check: {{path: /healthz}}
"""


def waiting_run(deployment: Deployment, pipeline: Pipeline, env: str) -> str:
    """A run of ``pipeline`` whose only stage, a manual deploy to ``env``, waits to be played."""
    stages = parse_pipeline(MANUAL_DEPLOY.format(env=env)).stages
    created = run_created(stages, pipeline_id=pipeline.pipeline_id)
    p = producer(deployment.settings)
    inbox = TopicNames(deployment.settings.topic_prefix).inbox
    p.produce(inbox, key=created.run_id.encode(), value=encode_event(created))
    assert p.flush(10) == 0
    url = f"/pipelines/{pipeline.pipeline_id}/runs/{created.run_id}"
    with deployment.client() as client:
        eventually(
            lambda: (
                (r := client.get(url)).status_code == 200
                and [s["status"] for s in r.json()["stages"]] == ["manual"]
            ),
            timeout=30,
            what="the deploy stage to wait for a person",
        )
    return created.run_id


def play(deployment: Deployment, token: str, pipeline: Pipeline, run_id: str) -> httpx.Response:
    url = f"/pipelines/{pipeline.pipeline_id}/runs/{run_id}/stages/deploy-prod/play"
    with deployment.client(token) as client:
        return client.post(url)


def protect(deployment: Deployment, env: str) -> None:
    with deployment.client() as client:
        answer = client.put(f"/environments/{env}/protection")
    assert answer.status_code == 200 and answer.json()["changed"] is True, answer.text


def audited(deployment: Deployment, action: str, env: str, count: int = 1) -> list[dict[str, Any]]:
    """The audit records of ``action`` on ``env``, once the audit projection has ``count``."""

    def records(client: httpx.Client) -> list[dict[str, Any]]:
        found = client.get("/audit", params={"action": action}).json()
        return [r for r in found if r["detail"].get("environment") == env]

    with deployment.client() as client:
        return eventually(
            lambda: len(found := records(client)) >= count and found,
            timeout=20,
            what=f"an audit record of {action} on {env}",
        )


def test_playing_a_manual_stage_queues_it_and_records_who_played_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    run_id = waiting_run(deployment, pipeline, env)
    answer = play(deployment, deployment.token("trigger"), pipeline, run_id)

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "play requested"
    job = next_deploy_job(deployment, run_id)
    assert job.stage.name == "deploy-prod" and job.stage.deploy is not None
    assert job.stage.deploy.environment == env


def test_playing_a_stage_that_does_not_wait_is_409(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    run_id = waiting_run(deployment, pipeline, env)
    token = deployment.token("trigger")
    assert play(deployment, token, pipeline, run_id).status_code == 202
    with deployment.client() as client:
        eventually(
            lambda: client.get(f"/runs/{run_id}").json()["stages"][0]["status"] != "manual",
            timeout=30,
            what="the played stage to leave manual",
        )
    again = play(deployment, token, pipeline, run_id)

    assert again.status_code == 409 and "not waiting for a person" in again.text


def test_a_protected_environment_refuses_a_play_without_its_deploy_scope_and_audits_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    protect(deployment, env)
    run_id = waiting_run(deployment, pipeline, env)
    refused = play(deployment, deployment.token("trigger"), pipeline, run_id)

    assert refused.status_code == 403
    assert f"'deploy:{env}'" in refused.json()["detail"] and "protected" in refused.text
    [record] = audited(deployment, "stage.play", env)
    assert record["outcome"] == "denied" and "protected" in record["detail"]["reason"]
    with deployment.client() as client:
        assert client.get(f"/runs/{run_id}").json()["stages"][0]["status"] == "manual"


def test_a_token_with_the_deploy_scope_plays_a_protected_environments_deploy(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    protect(deployment, env)
    run_id = waiting_run(deployment, pipeline, env)
    allowed = play(deployment, deployment.token("trigger", f"deploy:{env}"), pipeline, run_id)

    assert allowed.status_code == 202, allowed.text
    assert next_deploy_job(deployment, run_id).stage.name == "deploy-prod"
    [record] = audited(deployment, "stage.play", env)
    assert record["outcome"] == "allowed"


def test_a_deploy_scope_of_another_environment_does_not_open_a_protected_one(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    protect(deployment, env)
    run_id = waiting_run(deployment, pipeline, env)
    token = deployment.token("trigger", "deploy:staging")

    assert play(deployment, token, pipeline, run_id).status_code == 403


def test_a_protected_environment_refuses_a_rollback_without_its_deploy_scope(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = serving_v2_after_v1(deployment, pipeline)
    protect(deployment, env)
    with deployment.client(deployment.token("trigger")) as client:
        refused = client.post(f"/environments/{env}/rollback", json={})
    with deployment.client(deployment.token("trigger", f"deploy:{env}")) as client:
        allowed = client.post(f"/environments/{env}/rollback", json={})

    assert refused.status_code == 403 and f"deploy:{env}" in refused.text
    assert allowed.status_code == 202, allowed.text
    outcomes = {r["outcome"] for r in audited(deployment, "environment.rollback", env, 2)}
    assert outcomes == {"denied", "allowed"}


def test_only_an_admin_protects_an_environment_and_the_api_shows_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = serving_v2_after_v1(deployment, pipeline)
    with deployment.client(deployment.token("trigger", f"deploy:{env}")) as client:
        assert client.put(f"/environments/{env}/protection").status_code == 403
    protect(deployment, env)
    with deployment.client() as client:
        shown = eventually(
            lambda: (r := client.get(f"/environments/{env}")).status_code == 200 and r.json(),
            timeout=20,
            what="the environment to be projected",
        )
        lifted = client.delete(f"/environments/{env}/protection").json()

    assert shown["protected"] is True
    assert lifted == {"environment": env, "protected": False, "changed": True}


def test_a_deploy_scope_must_name_an_environment_a_deploy_could_use(
    deployment: Deployment,
) -> None:
    with deployment.connect() as conn, pytest.raises(InvalidScope, match="after 'deploy:'"):
        create_token(conn, name="bad", scopes=["trigger", "deploy:Prod Env"])


def test_sluice_play_and_env_protect_work_from_the_command_line(
    deployment: Deployment,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))
    assert main(["env", "protect", env]) == 0
    assert capsys.readouterr().out.strip() == f"{env}: protected"
    run_id = waiting_run(deployment, pipeline, env)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.token("read", "trigger"))
    assert main(["play", run_id, "deploy-prod"]) == 1
    assert f"deploy:{env}" in capsys.readouterr().err
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.token("read", "trigger", f"deploy:{env}"))
    assert main(["play", run_id, "deploy-prod"]) == 0

    assert capsys.readouterr().out.strip() == f"{run_id}/deploy-prod: play requested"
    job = next_deploy_job(deployment, run_id)
    assert job.stage.name == "deploy-prod"


def test_the_play_is_recorded_in_the_runs_history_with_who_played_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    run_id = waiting_run(deployment, pipeline, env)
    with deployment.connect() as conn:
        made = create_token(conn, name="release-manager", scopes=["trigger"])
    assert play(deployment, made.secret, pipeline, run_id).status_code == 202
    played = history_event(deployment, run_id, StageStartRequested)

    assert played.requested_by == "token:release-manager" and played.stage == "deploy-prod"


def history_event(deployment: Deployment, run_id: str, kind: type[Any]) -> Any:
    """The first ``kind`` event of ``run_id`` on the deployment's ``sluice.runs``."""

    def keep(key: bytes, value: bytes) -> Any:
        event = decode_event(value)
        return event if isinstance(event, kind) and event.run_id == run_id else None

    runs = TopicNames(deployment.settings.topic_prefix).runs
    [event] = read_kept(deployment.settings, runs, keep, 1, f"{kind.__name__} of {run_id}")
    return event
