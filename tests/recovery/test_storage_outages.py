"""PostgreSQL or MinIO stopped while a run is in flight, then started again by infra/up.

PostgreSQL holds the read models and the job queue; MinIO the artifacts and logs. Neither
is the source of truth (the log is): a run in flight while one is down must end as if
nothing had happened, with nothing missing from the read model and nothing partial listed.
These stop shared services, so they live in tests/recovery, which runs last.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from orchestrator.cli import main
from orchestrator.domain import FailureClass
from orchestrator.domain.events import ArtifactStored, RunEvent, StageFailed
from orchestrator.wire import decode_event
from schemas.eventlog import TopicNames, partition_for, read_partition
from schemas.topics import RUN_PARTITIONS
from tests.integration.api.conftest import Deployment, register
from tests.recovery.test_service_restart import infra, status_of
from tests.support.waiting import eventually

TWO_STAGES = """
name: outage
stages:
  build:
    script: ["echo building", "sleep 6", "echo built"]
  test:
    needs: [build]
    script: ["echo tested"]
"""

WITH_ARTIFACT = """
name: artifact
stages:
  build:
    script: ["sleep 4", "head -c 500000 /dev/urandom > big.bin"]
    artifacts: {paths: [big.bin]}
"""


def _run(deployment: Deployment, pipeline_id: str, run_id: str) -> dict[str, Any]:
    with deployment.client() as http:
        answer = http.get(f"/pipelines/{pipeline_id}/runs/{run_id}")
    run: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    return run


def _stage_status(run: dict[str, Any], name: str) -> str | None:
    return next((s["status"] for s in run.get("stages", []) if s["name"] == name), None)


def _build_running(
    deployment: Deployment,
    runners: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
    pipeline_yaml: str,
) -> tuple[str, str]:
    """Register ``pipeline_yaml``, start a runner, trigger a run; (pipeline_id, run_id) once
    its build stage runs."""
    pipeline = register(deployment, tmp_path, pipeline_yaml)
    runners()
    with deployment.client() as http:
        body = {"branch": "main", "commit_sha": pipeline.sha}
        answer = http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body)
    assert answer.status_code == 201, answer.text
    run_id: str = answer.json()["run_id"]
    eventually(
        lambda: _stage_status(_run(deployment, pipeline.pipeline_id, run_id), "build") == "running",
        timeout=120,
        what="build to run",
    )
    return pipeline.pipeline_id, run_id


def _succeeded(deployment: Deployment, pipeline_id: str, run_id: str) -> dict[str, Any]:
    """The run once it succeeded; its history so far in the failure while it has not."""

    def succeeded() -> dict[str, Any]:
        run = _run(deployment, pipeline_id, run_id)
        events = [
            (type(e).__name__, getattr(e, "reason", "")) for e in _history(deployment, run_id)
        ]
        assert run.get("status") == "success", f"the run has not succeeded yet: {events}"
        return run

    return eventually(succeeded, timeout=180)


def _down_then_up(service: str, *, down_for_s: float) -> None:
    assert infra("down", service).returncode == 0
    assert status_of(service) == "down"
    time.sleep(down_for_s)
    up = infra("up", service)
    assert up.returncode == 0, up.stdout + up.stderr


def test_a_run_in_flight_while_postgres_is_down_ends_and_the_read_model_misses_nothing(
    deployment: Deployment,
    runners: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline_id, run_id = _build_running(deployment, runners, tmp_path, TWO_STAGES)
    # build ends and reports while the read model and the job queue are gone
    _down_then_up("postgres", down_for_s=10)

    run = _succeeded(deployment, pipeline_id, run_id)
    assert [_stage_status(run, s) for s in ("build", "test")] == ["success", "success"]
    code = main(
        ["replay", "--verify", "--schema", deployment.schema,
         "--prefix", deployment.settings.topic_prefix]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out


def test_an_artifact_upload_to_a_stopped_minio_fails_as_infrastructure_and_the_retry_stores_it(
    deployment: Deployment,
    runners: Callable[[], subprocess.Popen[bytes]],
    minio_client: Minio,
    tmp_path: Path,
) -> None:
    pipeline_id, run_id = _build_running(deployment, runners, tmp_path, WITH_ARTIFACT)
    assert infra("down", "minio").returncode == 0  # before the stage ends and uploads
    try:
        failed = eventually(
            lambda: [e for e in _history(deployment, run_id) if isinstance(e, StageFailed)],
            timeout=120,
            what="attempt 1 to fail",
        )
    finally:
        up = infra("up", "minio")
        assert up.returncode == 0, up.stdout + up.stderr

    run = _succeeded(deployment, pipeline_id, run_id)
    with deployment.client() as http:
        listed = http.get(f"/runs/{run_id}/artifacts").json()
    stored = [e for e in _history(deployment, run_id) if isinstance(e, ArtifactStored)]

    assert [(f.attempt, f.failure_class) for f in failed] == [(1, FailureClass.INFRASTRUCTURE)]
    assert [s["attempt"] for s in run["stages"]] == [2]
    assert [a.attempt for a in stored] == [2]
    assert [a["sha256"] for a in listed] == [stored[0].sha256]
    bucket, _, key = stored[0].storage_path.partition("/")
    data = minio_client.get_object(bucket, key).read()
    assert hashlib.sha256(data).hexdigest() == stored[0].sha256


def _history(deployment: Deployment, run_id: str) -> list[RunEvent]:
    """The run's events on its partition of sluice.runs."""
    topic = TopicNames(deployment.settings.topic_prefix).runs
    partition = partition_for(run_id, RUN_PARTITIONS)
    events = (
        decode_event(m.value() or b"")
        for m in read_partition(deployment.settings, topic, partition)
    )
    return [e for e in events if e.run_id == run_id]
