"""Read-your-writes once a POST answers at the decider's acceptance, not after the read model.

A 201 no longer waits for PostgreSQL; a read that does not find the run waits for the
projection's offset instead, on whichever API replica it lands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.api.conftest import Deployment, Pipeline, Served, serve

Trigger = Callable[..., httpx.Response]


@pytest.fixture
def replica(deployment: Deployment) -> Iterator[Served]:
    """A second API replica: its own runs follower, producer and connection pool."""
    served = serve(deployment.settings, deployment.api_settings, loops=False)
    yield served
    served.stop()


def shown(run: dict[str, object]) -> tuple[object, ...]:
    stages = run["stages"]
    assert isinstance(stages, list)
    return run["status"], [(s["name"], s["status"], s["needs"]) for s in stages]


def test_the_201_body_is_the_run_as_a_get_then_shows_it(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    created = trigger()
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    with deployment.client() as http:
        got = http.get(f"/pipelines/{pipeline.pipeline_id}/runs/{run_id}").json()
    assert shown(created.json()) == shown(got)
    assert shown(got) == ("queued", [("build", "queued", []), ("test", "pending", ["build"])])


def test_a_get_on_another_replica_right_after_each_201_finds_the_run(
    deployment: Deployment, pipeline: Pipeline, replica: Served
) -> None:
    headers = {"Authorization": f"Bearer {deployment.admin_token}"}
    with (
        deployment.client() as first,
        httpx.Client(base_url=replica.url, headers=headers, timeout=30) as second,
    ):
        text = (pipeline.repo.work / "pipeline.yaml").read_text()
        for i in range(5):  # a branch each: a repeat of one commit would be de-duplicated
            sha = pipeline.repo.commit({"pipeline.yaml": text}, branch=f"ryw-{i}")
            body = {"branch": f"ryw-{i}", "commit_sha": sha}
            created = first.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body)
            assert created.status_code == 201, created.text
            run_id = created.json()["run_id"]
            assert second.get(f"/runs/{run_id}").status_code == 200


def test_a_list_right_after_the_201_shows_the_run(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        listed = http.get(f"/pipelines/{pipeline.pipeline_id}/runs").json()
    assert run_id in [r["run_id"] for r in listed["runs"]]


def test_a_run_nobody_created_is_still_404(deployment: Deployment, replica: Served) -> None:
    headers = {"Authorization": f"Bearer {deployment.admin_token}"}
    with httpx.Client(base_url=replica.url, headers=headers, timeout=30) as http:
        assert http.get("/runs/never-created").status_code == 404
