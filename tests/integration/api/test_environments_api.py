"""GET /environments…: the environments read model through the API."""

from __future__ import annotations

import uuid

import pytest

from orchestrator.cli import main
from orchestrator.domain import Priority, RunEvent, StageClaimed, StageQueued
from orchestrator.domain.events import DeploymentRolledBack, DeploymentStarted, DeploymentSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import DeploySpec, StageSpec
from orchestrator.wire import decode_record, encode_event
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.event_ids import DeploymentAttemptIds, StageEventIds
from tests.support.records import read_kept
from tests.support.runs import run_created
from tests.support.waiting import eventually

T0 = 1_800_000_000_000


def publish(deployment: Deployment, events: list[RunEvent]) -> None:
    p = producer(deployment.settings)
    runs = TopicNames(deployment.settings.topic_prefix).runs
    for e in events:
        p.produce(runs, key=e.run_id.encode(), value=encode_event(e))
    assert p.flush(10) == 0


def serving_v2_after_v1(deployment: Deployment, pipeline: Pipeline) -> str:
    """A new environment whose history is two successful deployments, app:v1 then app:v2,
    once the API shows v2 as its image."""
    env = f"e{uuid.uuid4().hex[:8]}"
    events = two_deployments(env, second_good=True, pipeline_id=pipeline.pipeline_id)
    publish(deployment, events)
    runs = sorted({e.run_id for e in events})
    with deployment.client() as client:
        eventually(
            lambda: client.get(f"/environments/{env}").json().get("current_image") == "app:v2",
            timeout=20,
            what="v2 to be the environment's image",
        )
        # the runs' rows come from another projection, with a lag of its own
        eventually(
            lambda: all(
                client.get(f"/pipelines/{pipeline.pipeline_id}/runs/{r}").status_code == 200
                for r in runs
            ),
            timeout=20,
            what="both deploy runs in the runs read model",
        )
    return env


def two_deployments(
    env: str, *, second_good: bool = False, pipeline_id: str = "p-test"
) -> list[RunEvent]:
    events: list[RunEvent] = []
    for k, (image, good) in enumerate((("app:v1", True), ("app:v2", second_good))):
        run_id = f"run-{uuid.uuid4().hex[:8]}"
        spec = StageSpec(name="deploy", deploy=DeploySpec(environment=env, image=image))
        events.append(
            run_created([spec], run_id=run_id, occurred_at_ms=T0, pipeline_id=pipeline_id)
        )
        stage: StageEventIds = {
            "run_id": run_id,
            "stage": "deploy",
            "attempt": 1,
            "occurred_at_ms": T0,
        }
        events.append(StageQueued(**stage, priority=Priority.NORMAL, lease_ms=60_000))
        events.append(StageClaimed(**stage, runner_id="deployer", lease_deadline_ms=T0 * 2))
        ids: DeploymentAttemptIds = {
            "run_id": run_id,
            "stage": "deploy",
            "attempt": 1,
            "environment": env,
            "deployment_id": f"{run_id}/deploy/1",
        }
        at = T0 + k * 60_000
        events.append(
            DeploymentStarted(
                **ids,
                occurred_at_ms=at,
                strategy="rolling",
                image=image,
                replicas=2,
                port=9000,
                health_check_path="/ready",
            )
        )
        events.append(
            DeploymentSucceeded(**ids, occurred_at_ms=at + 1_000)
            if good
            else DeploymentRolledBack(
                **ids, occurred_at_ms=at + 1_000, reason="bad", to_image="app:v1"
            )
        )
    return events


def test_an_environment_shows_what_it_runs_and_its_history(deployment: Deployment) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    publish(deployment, two_deployments(env))
    with deployment.client() as client:
        shown = eventually(
            lambda: (
                (r := client.get(f"/environments/{env}/deployments")).status_code == 200
                and len(r.json()) == 2
                and r
            ),
            timeout=20,
            what="the two deployments to be projected",
        )
        current = client.get(f"/environments/{env}").json()
        listed = [e["name"] for e in client.get("/environments").json()]

    assert [(d["image"], d["outcome"]) for d in shown.json()] == [
        ("app:v2", "rolled_back"),
        ("app:v1", "succeeded"),
    ]
    assert current["current_image"] == "app:v1" and env in listed


def test_an_unknown_environment_is_404(deployment: Deployment) -> None:
    with deployment.client() as client:
        assert client.get("/environments/nowhere").status_code == 404
        assert client.get("/environments/nowhere/deployments").status_code == 404


def test_sluice_env_show_and_history_print_the_environment(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    publish(deployment, two_deployments(env))
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))
    with deployment.client() as client:
        eventually(
            lambda: len(client.get(f"/environments/{env}/deployments").json()) == 2,
            timeout=20,
            what="the deployments to be projected",
        )
    assert main(["env", "show", env]) == 0
    shown = capsys.readouterr().out
    assert main(["env", "history", env]) == 0
    history = capsys.readouterr().out.splitlines()

    assert f"environment {env}" in shown and "app:v1" in shown
    assert ["rolled_back" in history[0], "succeeded" in history[1]] == [True, True]


def test_a_rollback_redeploys_the_previous_image_as_a_new_deploy_job(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    env = serving_v2_after_v1(deployment, pipeline)
    with deployment.client() as client:
        answer = client.post(f"/environments/{env}/rollback", json={})
    assert answer.status_code == 202, answer.text
    job = next_deploy_job(deployment, answer.json()["run_id"])

    assert job.stage.deploy is not None
    d = job.stage.deploy
    assert (d.environment, d.image, d.port, d.health_check_path) == (env, "app:v1", 9000, "/ready")


def test_a_rollback_with_nothing_to_go_back_to_is_404_and_the_cli_says_so(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = f"e{uuid.uuid4().hex[:8]}"
    with deployment.client() as client:
        assert client.post(f"/environments/{env}/rollback", json={}).status_code == 404
    monkeypatch.setenv("SLUICE_API_URL", deployment.url)
    monkeypatch.setenv("SLUICE_API_TOKEN", deployment.admin_token)
    monkeypatch.setenv("HOME", str(deployment.tmp))
    assert main(["env", "rollback", env]) == 1
    assert "succeeded earlier deployment" in capsys.readouterr().err


def next_deploy_job(deployment: Deployment, run_id: str) -> Job:
    def keep(key: bytes, value: bytes) -> Job | None:
        job = decode_record(value)
        return job if isinstance(job, Job) and job.run_id == run_id else None

    jobs = TopicNames(deployment.settings.topic_prefix).deploy_jobs
    [job] = read_kept(deployment.settings, jobs, keep, 1, "the rollback's deploy job")
    return job
