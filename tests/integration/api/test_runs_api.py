"""POST and GET of runs through the API, on the real stack."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.api.conftest import Deployment, Pipeline


def test_a_new_trigger_answers_201_with_run_id_status_and_web_url(
    trigger: Callable[..., httpx.Response],
) -> None:
    response = trigger()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["web_url"].endswith(f"/runs/{body['run_id']}")


def test_a_get_straight_after_the_post_returns_the_run_with_its_stages(
    deployment: Deployment, pipeline: Pipeline, trigger: Callable[..., httpx.Response]
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        response = http.get(f"/pipelines/{pipeline.pipeline_id}/runs/{run_id}")
    assert response.status_code == 200
    assert [s["name"] for s in response.json()["stages"]] == ["build", "test"]
