"""A 202 names the run id its request was given before any answer; when that request turns
out to repeat a run of the last 60 s (a client retrying after a timeout, two clients at
once), no run of that id is ever created, and the id leads to the run it repeated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from tests.integration.api.conftest import Deployment, Pipeline, Served, serve
from tests.support.waiting import eventually


@pytest.fixture
def impatient(deployment: Deployment) -> Iterator[Served]:
    """An API replica that answers 202 after 0.5 s without the trigger processor's answer."""
    settings = replace(deployment.api_settings, answer_timeout_s=0.5)
    served = serve(deployment.settings, settings, loops=False)
    yield served
    served.stop()


def _post_twice(deployment: Deployment, api: Served, pipeline: Pipeline) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {deployment.admin_token}"}
    body = {"branch": "main", "commit_sha": pipeline.sha}
    with httpx.Client(base_url=api.url, headers=headers, timeout=30) as http:
        return [http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body) for _ in "ab"]


def test_the_202_of_a_repeated_request_leads_to_the_run_it_repeated(
    deployment: Deployment, pipeline: Pipeline, impatient: Served
) -> None:
    with deployment.trigger_processor_paused():
        first, repeat = _post_twice(deployment, impatient, pipeline)
    assert (first.status_code, repeat.status_code) == (202, 202), repeat.text
    first_id, repeat_id = first.json()["run_id"], repeat.json()["run_id"]
    assert first_id != repeat_id

    def found(run_id: str) -> dict[str, object]:
        with deployment.client() as http:
            got = http.get(f"/runs/{run_id}")
        assert got.status_code == 200, got.text
        body: dict[str, object] = got.json()
        return body

    eventually(lambda: found(first_id), timeout=60, what="the first request's run")
    run = eventually(lambda: found(repeat_id), timeout=60, what="the repeat to lead to it")
    assert run["run_id"] == first_id
    with deployment.client() as http:
        scoped = http.get(f"/pipelines/{pipeline.pipeline_id}/runs/{repeat_id}")
    assert scoped.status_code == 200 and scoped.json()["run_id"] == first_id
