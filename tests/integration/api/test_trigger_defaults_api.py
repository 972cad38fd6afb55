"""POST /pipelines/{id}/runs without traps: defaults resolved from the repository, unknown
branches and commits answered 400 with the reason, and a repeat of a rejected request
rejected again (never a run_id of a run that does not exist)."""

from __future__ import annotations

from typing import Any

from tests.integration.api.conftest import PIPELINE, Deployment, Pipeline, register

UNKNOWN_SHA = "0123456789abcdef0123456789abcdef01234567"


def _post(deployment: Deployment, pipeline: Pipeline, **body: Any) -> Any:
    with deployment.client() as http:
        return http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body)


def test_a_request_without_branch_or_commit_builds_the_default_branch_head(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    response = _post(deployment, pipeline)

    assert response.status_code == 201, response.text
    assert (response.json()["branch"], response.json()["commit_sha"]) == ("main", pipeline.sha)


def test_a_request_with_only_a_branch_builds_that_branch_head(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    dev = pipeline.repo.commit({"pipeline.yaml": PIPELINE, "dev.txt": "dev"}, branch="dev")

    response = _post(deployment, pipeline, branch="dev")

    assert response.status_code == 201, response.text
    assert (response.json()["branch"], response.json()["commit_sha"]) == ("dev", dev)


def test_a_trigger_right_after_its_pipeline_is_updated_builds_the_new_default_branch(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    assert _post(deployment, pipeline).json()["branch"] == "main"  # the pipeline, kept
    dev = pipeline.repo.commit({"pipeline.yaml": PIPELINE, "dev.txt": "dev"}, branch="dev")
    path = f"/pipelines/{pipeline.pipeline_id}"
    with deployment.client() as http:
        got = http.get(path).json()
        body = {"name": got["name"], "repo_url": got["repo_url"], "default_branch": "dev"}
        assert http.put(path, json=body).status_code == 200

    response = _post(deployment, pipeline)

    assert response.status_code == 201, response.text
    assert (response.json()["branch"], response.json()["commit_sha"]) == ("dev", dev)


def test_an_unknown_branch_is_400_with_the_reason_and_appends_nothing(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    before = deployment.appended("sluice.triggers")

    response = _post(deployment, pipeline, branch="no-such-branch")

    assert response.status_code == 400
    assert "the repository has no branch 'no-such-branch'" in response.json()["detail"]
    assert deployment.appended("sluice.triggers") == before


def test_an_unknown_commit_is_400_and_so_is_its_repeat_within_the_dedup_window(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    first = _post(deployment, pipeline, branch="main", commit_sha=UNKNOWN_SHA)
    again = _post(deployment, pipeline, branch="main", commit_sha=UNKNOWN_SHA)

    assert (first.status_code, again.status_code) == (400, 400), again.text
    assert f"commit {UNKNOWN_SHA} is not in" in first.json()["detail"]
    assert again.json() == first.json()


def test_a_rejected_pipeline_file_is_400_again_on_a_repeat(
    deployment: Deployment, tmp_path: Any
) -> None:
    broken = register(deployment, tmp_path, "name: broken\nstages: {}\n")

    first = _post(deployment, broken)
    again = _post(deployment, broken)

    assert (first.status_code, again.status_code) == (400, 400), again.text
    assert again.json() == first.json()
