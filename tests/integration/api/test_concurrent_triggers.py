"""50 identical triggers at once, across two API processes, make one run."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.ports import free_port
from tests.support.waiting import eventually

_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def second_api(deployment: Deployment) -> Iterator[str]:
    """``sluice api`` as a child process on the same deployment."""
    port = free_port()
    env = {**deployment.env, "SLUICE_API_CRON_INTERVAL": "3600"}
    log = deployment.tmp / "api2.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MAIN, "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(up, timeout=60, what=f"the second API process to serve (see {log})")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_50_identical_triggers_across_two_api_processes_make_one_run(
    deployment: Deployment, pipeline: Pipeline, second_api: str
) -> None:
    body = {"branch": "main", "commit_sha": pipeline.sha}
    headers = {"Authorization": f"Bearer {deployment.admin_token}"}
    path = f"/pipelines/{pipeline.pipeline_id}/runs"

    def post(i: int) -> httpx.Response:
        base = deployment.url if i % 2 else second_api
        return httpx.post(base + path, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(post, range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [201]
    assert len({r.json()["run_id"] for r in responses}) == 1
    with deployment.client() as http:
        runs = http.get(path).json()["runs"]
    assert len(runs) == 1
