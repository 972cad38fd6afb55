"""Real projects through the real stack: ``sluice trigger --watch`` → trigger processor →
decider → ``sluice runner`` in Docker with the catalogue's toolchain images → read model →
the API's run answer, with per-test results; image builds from a Dockerfile; image typos."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from orchestrator.client import Client, Connection
from tests.integration.api.conftest import Deployment, Pipeline, register
from tests.support.samples import sample
from tests.support.toolchains import ensure_images
from tests.support.waiting import eventually

_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def images(deployment: Deployment) -> None:
    ensure_images(deployment.settings, "python:3.11", "golang:1.19", "gcc:12")


@pytest.fixture(scope="module")
def runner(deployment: Deployment, images: None) -> Iterator[None]:
    """``sluice runner`` as a child process of the deployment."""
    log = deployment.tmp / f"runner-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MAIN, "runner", "--slots", "2"],
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


def _watch(deployment: Deployment, pipeline: Pipeline) -> tuple[int, str]:
    """``sluice trigger PIPELINE --watch``: its exit status and output."""
    env = {
        **deployment.env,
        "SLUICE_API_URL": deployment.url,
        "SLUICE_API_TOKEN": deployment.admin_token,
        "PYTHONPATH": os.getcwd(),
    }
    args = ["trigger", pipeline.pipeline_id, "--branch", "main", "--commit", pipeline.sha]
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, *args, "--watch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _run_id(output: str) -> str:
    """The run ``sluice trigger`` started (its first line names it)."""
    found = re.search(r"^run (\S+) ", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1)


def _run_answer(deployment: Deployment, pipeline: Pipeline, output: str) -> dict[str, Any]:
    """The API's answer for the run ``sluice trigger`` started."""
    with deployment.client() as http:
        answer: dict[str, Any] = http.get(
            f"/pipelines/{pipeline.pipeline_id}/runs/{_run_id(output)}"
        ).json()
    return answer


def _project(deployment: Deployment, root: Path, files: dict[str, str]) -> Pipeline:
    pipeline = register(deployment, root, files["pipeline.yaml"])
    sha = pipeline.repo.commit(files)
    return Pipeline(pipeline.pipeline_id, pipeline.repo, sha, pipeline.webhook_secret)


@pytest.mark.parametrize("kind", ["python", "go", "c"])
def test_a_real_project_builds_and_tests_green_in_its_toolchain_image(
    deployment: Deployment, runner: None, tmp_path: Path, kind: str
) -> None:
    project = sample(kind)
    pipeline = _project(deployment, tmp_path, project.files)

    status, output = _watch(deployment, pipeline)

    answer = _run_answer(deployment, pipeline, output)
    assert status == 0, (output, answer["stages"])
    tests = answer["stages"][0]["tests"]
    assert {t["outcome"] for t in tests} == {"passed"}
    assert len(tests) == 2


@pytest.mark.parametrize("kind", ["python", "go", "c"])
def test_a_failing_test_fails_the_run_at_once_as_deterministic_and_is_named(
    deployment: Deployment, runner: None, tmp_path: Path, kind: str
) -> None:
    project = sample(kind, failing=True)
    pipeline = _project(deployment, tmp_path, project.files)

    status, output = _watch(deployment, pipeline)

    answer = _run_answer(deployment, pipeline, output)
    stage = answer["stages"][0]
    assert status == 1, output
    assert (stage["status"], stage["attempt"], stage["failure_class"]) == (
        "failed",
        1,
        "deterministic",
    )
    failed = [t["name"] for t in stage["tests"] if t["outcome"] == "failed"]
    assert len(failed) == 1
    assert project.failing_test in failed[0]
    assert project.failing_test in stage["reason"]


DOCKERFILE_PIPELINE = """
name: image-build
stages:
  image:
    build_image:
      context: .
      dockerfile: docker/Dockerfile
      name: app
      build_args: {GREETING: hello}
  use:
    needs: [image]
    image: ${{ images.app }}
    script:
      - cat /opt/app/greeting.txt
      - test "$(cat /opt/app/greeting.txt)" = "hello from the Dockerfile"
"""
DOCKERFILE = """FROM python:3.11
ARG GREETING
COPY greeting.txt /opt/app/greeting.txt
RUN test "$GREETING" = hello && python3 --version
"""


def test_a_dockerfile_is_built_pushed_and_run_by_a_later_stage(
    deployment: Deployment, runner: None, tmp_path: Path
) -> None:
    files = {
        "pipeline.yaml": DOCKERFILE_PIPELINE,
        "docker/Dockerfile": DOCKERFILE,
        "greeting.txt": "hello from the Dockerfile\n",
    }
    pipeline = _project(deployment, tmp_path, files)

    status, output = _watch(deployment, pipeline)

    answer = _run_answer(deployment, pipeline, output)
    assert status == 0, (output, answer["stages"])
    image = answer["stages"][0]["image"]
    assert image["name"] == "app"
    assert image["tag"] == f"{deployment.settings.registry}/app:{pipeline.sha}"
    assert image["digest"].startswith("sha256:")
    assert image["size_bytes"] > 0


TYPO = """
name: typo
stages:
  test:
    image: pyhton:3.11
    script: [python3 --version]
"""


def test_a_misspelt_image_fails_at_once_with_did_you_mean(
    deployment: Deployment, runner: None, tmp_path: Path
) -> None:
    pipeline = _project(deployment, tmp_path, {"pipeline.yaml": TYPO})

    status, output = _watch(deployment, pipeline)

    stage = _run_answer(deployment, pipeline, output)["stages"][0]
    assert status == 1, output
    assert (stage["attempt"], stage["failure_class"]) == (1, "deterministic")
    assert "pyhton:3.11" in stage["reason"]
    assert "did you mean python:3.11" in stage["reason"]


CACHED = """
name: cached
stages:
  test:
    image: python:3.11
    cache:
      key: venv-${{ hashFiles('requirements.txt') }}
      paths: [.venv]
    script:
      - cp -r /src/. .
      - test -x .venv/bin/python || python3 -m venv --system-site-packages .venv
      - .venv/bin/python -m pytest -q -p no:cacheprovider tests
"""


def test_a_second_run_restores_the_cache_the_first_saved(
    deployment: Deployment, runner: None, tmp_path: Path
) -> None:
    files = {**sample("python").files, "pipeline.yaml": CACHED, "requirements.txt": "pytest\n"}
    first = _project(deployment, tmp_path, files)
    status, first_output = _watch(deployment, first)
    assert status == 0, first_output
    second_sha = first.repo.commit({"NOTES": "a change that keeps requirements.txt"})
    second = Pipeline(first.pipeline_id, first.repo, second_sha, first.webhook_secret)

    status, output = _watch(deployment, second)

    assert status == 0, (output, _run_answer(deployment, second, output)["stages"])
    client = Client(Connection(deployment.url, deployment.admin_token))
    try:
        logs = [client.logs(_run_id(out)) for out in (first_output, output)]
    finally:
        client.close()
    assert "cache miss: venv-" in logs[0]
    assert "cache saved: venv-" in logs[0]
    assert re.search(r"cache hit: venv-[0-9a-f]+, \d+ bytes restored", logs[1])
    took = [_stage_seconds(deployment, p, o) for p, o in ((first, first_output), (second, output))]
    print(f"cached virtualenv: first run's stage {took[0]:.2f} s, second {took[1]:.2f} s")


def _stage_seconds(deployment: Deployment, pipeline: Pipeline, output: str) -> float:
    stage = _run_answer(deployment, pipeline, output)["stages"][0]
    started, finished = (datetime.fromisoformat(stage[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


BROKEN_DOCKERFILE = "FROM debian-git:bookworm\nRUN echo the step that breaks && false\n"


def test_a_dockerfile_that_does_not_build_fails_at_once_with_its_output(
    deployment: Deployment, runner: None, tmp_path: Path
) -> None:
    files = {
        "pipeline.yaml": "name: broken\nstages:\n  image:\n    build_image: {name: broken}\n",
        "Dockerfile": BROKEN_DOCKERFILE,
    }
    pipeline = _project(deployment, tmp_path, files)

    status, output = _watch(deployment, pipeline)

    stage = _run_answer(deployment, pipeline, output)["stages"][0]
    assert status == 1, output
    assert (stage["attempt"], stage["failure_class"]) == (1, "deterministic")
    assert "returned a non-zero code: 1" in stage["reason"]
    client = Client(Connection(deployment.url, deployment.admin_token))
    try:
        assert "the step that breaks" in client.logs(_run_id(output))
    finally:
        client.close()


SLOW_DOCKERFILE = """FROM python:3.11
RUN sleep 987
"""


def test_a_build_that_outlives_its_timeout_fails_and_the_engine_stops_building(
    deployment: Deployment, runner: None, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    files = {
        "pipeline.yaml": "name: slow\nstages:\n  image:\n    timeout: 8s\n"
        "    build_image: {name: slow}\n",
        "Dockerfile": SLOW_DOCKERFILE,
    }
    pipeline = _project(deployment, tmp_path, files)

    with ThreadPoolExecutor(1) as pool:
        watched = pool.submit(_watch, deployment, pipeline)
        eventually(lambda: _building(docker_client, "sleep 987"), timeout=60, what="the build")
        status, output = watched.result()

    stage = _run_answer(deployment, pipeline, output)["stages"][0]
    assert status == 1, output
    assert (stage["attempt"], stage["failure_class"]) == (1, "deterministic")
    assert stage["reason"] == "timed out after 8 s"
    eventually(
        lambda: not _building(docker_client, "sleep 987"),
        timeout=30,
        what="the engine to stop the abandoned build's step",
    )


def _building(client: docker.DockerClient, command: str) -> list[str]:
    """Running containers whose command is ``command`` (a classic build's RUN step)."""
    running = client.containers.list(filters={"status": "running"}, ignore_removed=True)
    return [c.id for c in running if command in " ".join(c.attrs["Config"]["Cmd"] or [])]
