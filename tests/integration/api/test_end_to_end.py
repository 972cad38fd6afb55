"""A real run end to end through the API: ``sluice runner`` runs the stage in Docker, the
log streams live over SSE while the stage runs, and ``--watch`` exits with success."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli.trigger import watch
from orchestrator.client import Client, Connection, SseEvent
from tests.integration.api.conftest import Deployment, Pipeline, register
from tests.support.waiting import eventually

SLOW = """
name: e2e
stages:
  build:
    script:
      - echo first
      - sleep 2
      - echo second
"""
_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def runner(deployment: Deployment, docker_client: object) -> Iterator[None]:
    """``sluice runner`` as a child process of the deployment."""
    log = deployment.tmp / f"runner-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MAIN, "runner"],
            env=deployment.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def slow(deployment: Deployment, tmp_path: Path) -> Pipeline:
    return register(deployment, tmp_path, SLOW)


def test_the_log_streams_while_the_stage_runs_and_watch_exits_0(
    deployment: Deployment, runner: None, slow: Pipeline
) -> None:
    client = Client(Connection(deployment.url, deployment.admin_token))
    run = client.trigger(slow.pipeline_id, branch="main", commit_sha=slow.sha)
    events: list[tuple[SseEvent, str]] = []

    def follow() -> None:
        for event in client.follow(run["run_id"]):
            stage_status = client.run(run["run_id"])["stages"][0]["status"]
            events.append((event, stage_status))

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    status = watch(client, run["run_id"])
    reader.join(30)
    assert status == 0, client.run(run["run_id"])["stages"]
    lines = "".join(e.data for e, _ in events if e.event != "end")
    assert lines.index("first") < lines.index("second")
    first = next(status for e, status in events if "first" in e.data)
    assert first == "running"  # seen live, while the stage still ran
    eventually(lambda: "second" in client.logs(run["run_id"]), timeout=15)
    client.close()
