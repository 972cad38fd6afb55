"""Runs through the API on the real stack: trigger, read, list, cancel, retry."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


def test_a_new_trigger_answers_201_with_run_id_status_and_web_url(trigger: Trigger) -> None:
    response = trigger()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["web_url"].endswith(f"/runs/{body['run_id']}")


def test_a_get_straight_after_the_post_returns_the_run_with_its_stages(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        response = http.get(f"/pipelines/{pipeline.pipeline_id}/runs/{run_id}")
    assert response.status_code == 200
    stages = response.json()["stages"]
    assert [(s["name"], s["status"]) for s in stages] == [("build", "queued"), ("test", "pending")]
    assert stages[0]["logs_url"].endswith(f"/runs/{run_id}/logs?stage=build")


def test_a_repeat_within_60_s_answers_200_with_the_existing_run(trigger: Trigger) -> None:
    first = trigger()
    again = trigger()
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["run_id"] == first.json()["run_id"]


def test_an_unknown_commit_is_400_with_the_reason(trigger: Trigger) -> None:
    response = trigger(commit_sha="b" * 40)
    assert response.status_code == 400
    assert "is not in" in response.json()["detail"]


def test_a_malformed_commit_sha_is_422(trigger: Trigger) -> None:
    assert trigger(commit_sha="not-a-sha").status_code == 422


def test_an_unknown_pipeline_is_404(deployment: Deployment) -> None:
    with deployment.client() as http:
        response = http.post(
            "/pipelines/nope/runs", json={"branch": "main", "commit_sha": "a" * 40}
        )
    assert response.status_code == 404


def test_an_unknown_run_is_404(deployment: Deployment, pipeline: Pipeline) -> None:
    with deployment.client() as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}/runs/nope").status_code == 404
        assert http.get("/runs/nope").status_code == 404


def test_runs_are_listed_newest_first_a_page_at_a_time_and_filtered_by_branch(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    other = pipeline.repo.commit({"pipeline.yaml": pipeline_yaml(pipeline)}, branch="dev")
    ids = [trigger().json()["run_id"], trigger(branch="dev", commit_sha=other).json()["run_id"]]
    base = f"/pipelines/{pipeline.pipeline_id}/runs"
    with deployment.client() as http:
        first = http.get(base, params={"limit": 1}).json()
        second = http.get(base, params={"limit": 1, "cursor": first["next_cursor"]}).json()
        dev = http.get(base, params={"branch": "dev"}).json()
    assert [r["run_id"] for r in first["runs"] + second["runs"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert [r["run_id"] for r in dev["runs"]] == [ids[1]]


def pipeline_yaml(pipeline: Pipeline) -> str:
    return (pipeline.repo.work / "pipeline.yaml").read_text()


def test_a_bad_cursor_is_400(deployment: Deployment, pipeline: Pipeline) -> None:
    with deployment.client() as http:
        response = http.get(f"/pipelines/{pipeline.pipeline_id}/runs", params={"cursor": "x"})
    assert response.status_code == 400


def test_cancel_is_202_and_the_run_ends_cancelled(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        assert http.post(f"/runs/{run_id}/cancel").status_code == 202
        eventually(lambda: http.get(f"/runs/{run_id}").json()["status"] == "cancelled")


def test_cancelling_an_ended_run_is_409(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")
        eventually(lambda: http.get(f"/runs/{run_id}").json()["status"] == "cancelled")
        assert http.post(f"/runs/{run_id}/cancel").status_code == 409


def test_retrying_a_queued_stage_is_409_and_an_unknown_stage_404(
    deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        assert http.post(f"/runs/{run_id}/stages/build/retry").status_code == 409
        assert http.post(f"/runs/{run_id}/stages/nope/retry").status_code == 404


def test_retrying_a_cancelled_stage_is_202(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")
        eventually(lambda: http.get(f"/runs/{run_id}").json()["status"] == "cancelled")
        assert http.post(f"/runs/{run_id}/stages/build/retry").status_code == 202


def test_cancel_of_an_unknown_run_is_404(deployment: Deployment) -> None:
    with deployment.client() as http:
        assert http.post("/runs/nope/cancel").status_code == 404


def test_a_nul_character_in_a_path_or_query_is_400_not_500(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    with deployment.client() as http:
        assert http.get("/runs/a%00b").status_code == 400
        listed = http.get(f"/pipelines/{pipeline.pipeline_id}/runs", params={"branch": "a\x00"})
    assert listed.status_code == 400
