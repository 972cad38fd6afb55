"""Cron schedules fire low-priority runs (a missed stretch fires once); health and metrics."""

from __future__ import annotations

import httpx

from tests.integration.api.conftest import Deployment, Pipeline
from tests.support.waiting import eventually


def _schedule(deployment: Deployment, pipeline: Pipeline, cron: str) -> httpx.Response:
    with deployment.client() as http:
        return http.post(
            f"/pipelines/{pipeline.pipeline_id}/schedules", json={"cron": cron, "branch": "main"}
        )


def test_a_schedule_missed_for_ten_intervals_fires_one_low_priority_cron_run(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    made = _schedule(deployment, pipeline, "* * * * *")
    assert made.status_code == 201
    schedule_id = made.json()["schedule_id"]
    before = deployment.appended("sluice.triggers")
    with deployment.connect() as conn:  # as if every API process was down for ten minutes
        conn.execute(
            "UPDATE cron_schedules SET next_fire_at = now() - interval '10 min'"
            " WHERE schedule_id = %s",
            (schedule_id,),
        )
    with deployment.client() as http:
        runs = eventually(
            lambda: http.get(f"/pipelines/{pipeline.pipeline_id}/runs").json()["runs"], timeout=20
        )
        [schedule] = http.get(f"/pipelines/{pipeline.pipeline_id}/schedules").json()
        # left in place, it would fire every minute for the rest of the session, and every
        # test that counts what the triggers topic holds would see its runs
        http.delete(f"/pipelines/{pipeline.pipeline_id}/schedules/{schedule_id}")
    assert [(r["source"], r["priority"], r["commit_sha"]) for r in runs] == [
        ("cron", "low", pipeline.sha)
    ]
    assert deployment.appended("sluice.triggers") == before + 1
    assert schedule["last_fired_at"] is not None


def test_an_invalid_cron_expression_is_400(deployment: Deployment, pipeline: Pipeline) -> None:
    assert _schedule(deployment, pipeline, "61 * * * *").status_code == 400


def test_a_schedule_is_listed_and_deleted(deployment: Deployment, pipeline: Pipeline) -> None:
    schedule_id = _schedule(deployment, pipeline, "0 3 * * 1").json()["schedule_id"]
    base = f"/pipelines/{pipeline.pipeline_id}/schedules"
    with deployment.client() as http:
        assert [s["schedule_id"] for s in http.get(base).json()] == [schedule_id]
        assert http.delete(f"{base}/{schedule_id}").status_code == 204
        assert http.delete(f"{base}/{schedule_id}").status_code == 404


def test_healthz_is_200_when_postgresql_answers(deployment: Deployment) -> None:
    response = httpx.get(f"{deployment.url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_metrics_time_requests_by_route_template_and_status(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    with deployment.client() as http:
        http.get(f"/pipelines/{pipeline.pipeline_id}")
    text = httpx.get(f"{deployment.url}/metrics").text
    assert (
        'sluice_api_request_seconds_count{method="GET",route="/pipelines/{pipeline_id}",'
        'status="200"}' in text
    )


def test_pipelines_are_created_read_updated_and_listed(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    path = f"/pipelines/{pipeline.pipeline_id}"
    with deployment.client() as http:
        got = http.get(path).json()
        body = {"name": "renamed", "repo_url": got["repo_url"], "default_branch": "dev"}
        updated = http.put(path, json=body)
        listed = [p["pipeline_id"] for p in http.get("/pipelines").json()]
        again = http.post("/pipelines", json={**body, "pipeline_id": pipeline.pipeline_id})
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["default_branch"]) == ("renamed", "dev")
    assert "webhook_secret" not in got
    assert pipeline.pipeline_id in listed
    assert again.status_code == 409


def test_secrets_are_set_listed_without_values_and_deleted(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    base = f"/pipelines/{pipeline.pipeline_id}/secrets"
    with deployment.client() as http:
        assert http.put(f"{base}/TOKEN", json={"value": "s3cr3t-value"}).status_code == 204
        listed = http.get(base)
        assert http.delete(f"{base}/TOKEN").status_code == 204
        assert http.delete(f"{base}/TOKEN").status_code == 404
    assert [s["name"] for s in listed.json()] == ["TOKEN"]
    assert "s3cr3t-value" not in listed.text


def test_a_refused_secret_value_is_not_echoed_in_the_422(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    value = "s3cr3t-" + "x" * 70_000  # over the 64 KiB limit
    with deployment.client() as http:
        response = http.put(f"/pipelines/{pipeline.pipeline_id}/secrets/BIG", json={"value": value})
    assert response.status_code == 422
    assert "s3cr3t" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "value"]
