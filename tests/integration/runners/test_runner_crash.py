"""A runner killed with SIGKILL mid-stage leaves its container behind; the next runner
started on the host removes it and reports the attempt failed (infrastructure), so the
decider runs it again as a new attempt and the run succeeds once."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from orchestrator.domain import parse_pipeline
from orchestrator.domain.events import RunSucceeded, StageClaimed, StageSucceeded
from orchestrator.domain.model import StageSpec
from runners.executor import RUNNER_LABEL
from tests.integration.runners.conftest import Rig, run_created, start_runner_process
from tests.support.claim_echo import ClaimEcho
from tests.support.waiting import eventually


def test_the_container_of_a_killed_runner_is_removed_when_the_next_runner_starts(
    rig: Rig,
    claim_echo: ClaimEcho,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    unique: str,
) -> None:
    claim_echo.start()
    inbox = rig.read(rig.topics.inbox)
    dead_id = f"runner-doomed-{unique}"
    mine = {"label": f"{RUNNER_LABEL}={dead_id}"}
    process = start_runner_process(rig, dead_id, tmp_path / "runner.log")
    try:
        job = rig.job(StageSpec(name="long", script=("sleep 300",)))
        rig.send(job)
        eventually(lambda: inbox.of(StageClaimed, runner_id=dead_id), timeout=30, what="claim")
        eventually(
            lambda: docker_client.containers.list(filters=mine, ignore_removed=True),
            what="its container",
        )
    finally:
        process.kill()  # SIGKILL: no clean-up of its own
        process.wait()
    assert docker_client.containers.list(all=True, filters=mine, ignore_removed=True)
    rig.start()
    eventually(
        lambda: not docker_client.containers.list(all=True, filters=mine, ignore_removed=True),
        timeout=30,
        what="the dead runner's container to be removed",
    )
    workspace = rig.config.work_dir / dead_id
    eventually(lambda: not workspace.exists(), what="the dead runner's workspace to be removed")


@pytest.mark.usefixtures("orchestration")
def test_a_run_whose_runner_is_killed_mid_stage_succeeds_once_on_the_next_runner(
    rig: Rig, docker_client: docker.DockerClient, tmp_path: Path, unique: str
) -> None:
    runs = rig.read(rig.topics.runs)
    dead_id = f"runner-doomed-{unique}"
    mine = {"label": f"{RUNNER_LABEL}={dead_id}"}
    process = start_runner_process(rig, dead_id, tmp_path / "runner.log")
    run_id = f"run-{unique}"
    stages = parse_pipeline("name: p\nstages:\n  build: {script: ['sleep 3']}\n").stages
    try:
        rig.append_to_inbox(run_created(rig, run_id, stages))
        eventually(lambda: runs.of(StageClaimed, runner_id=dead_id), timeout=30, what="claim")
        eventually(
            lambda: docker_client.containers.list(filters=mine, ignore_removed=True),
            what="its container",
        )
    finally:
        process.kill()
        process.wait()
    rig.start()

    def run_succeeded() -> bool:
        events = runs.of(object, run_id=run_id)
        seen = [
            (type(e).__name__, getattr(e, "attempt", None), getattr(e, "reason", ""))
            for e in events
        ]
        assert any(isinstance(e, RunSucceeded) for e in events), f"not yet; so far {seen}"
        return True

    eventually(run_succeeded, timeout=60, what="the run to succeed")
    succeeded = runs.of(StageSucceeded, run_id=run_id)
    assert [(s.stage, s.attempt) for s in succeeded] == [("build", 2)]
