"""A runner killed with SIGKILL mid-stage leaves its container behind; the next runner
started on the host removes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker

from orchestrator.domain.events import StageClaimed
from orchestrator.domain.model import StageSpec
from runners.executor import RUNNER_LABEL
from tests.integration.runners.conftest import Rig
from tests.support.waiting import eventually

CLI = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


def start_runner_process(rig: Rig, runner_id: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLUICE_STATE_DIR": str(rig.config.state_dir),
        "SLUICE_SECRETS_KEY": rig.config.secrets_key or "",
        "SLUICE_PG_SCHEMA": rig.config.pg_schema,
    }
    args = ["runner", "--prefix", rig.topics.prefix, "--runner-id", runner_id]
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_the_container_of_a_killed_runner_is_removed_when_the_next_runner_starts(
    rig: Rig, docker_client: docker.DockerClient, tmp_path: Path, unique: str
) -> None:
    inbox = rig.read(rig.topics.inbox)
    dead_id = f"runner-doomed-{unique}"
    mine = {"label": f"{RUNNER_LABEL}={dead_id}"}
    process = start_runner_process(rig, dead_id, tmp_path / "runner.log")
    try:
        job = rig.job(StageSpec(name="long", script=("sleep 300",)))
        rig.send(job)
        eventually(lambda: inbox.of(StageClaimed, runner_id=dead_id), timeout=30, what="claim")
        eventually(lambda: docker_client.containers.list(filters=mine), what="its container")
    finally:
        process.kill()  # SIGKILL: no clean-up of its own
        process.wait()
    assert docker_client.containers.list(all=True, filters=mine)
    rig.start()
    eventually(
        lambda: not docker_client.containers.list(all=True, filters=mine),
        timeout=30,
        what="the dead runner's container to be removed",
    )
    workspace = rig.config.work_dir / dead_id
    eventually(lambda: not workspace.exists(), what="the dead runner's workspace to be removed")
