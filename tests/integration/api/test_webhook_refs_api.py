"""Merge-request, pull-request and tag webhooks, driven by the real bodies in
shared/external/webhooks, signed as GitHub and GitLab sign them.

A real body names commits of another project; to build one, the test swaps that commit's
SHA (same length, same place) for a commit of the test's own repository, and signs the
bytes it sends. Bodies that start nothing are sent byte for byte.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.webhooks import github_signature
from tests.integration.api.conftest import Deployment, Pipeline, register
from tests.support.external import webhook
from tests.support.waiting import eventually

PIPELINE = """
name: refs-test
stages:
  build:
    script: ["make build"]
  mr-only:
    script: ["make review"]
    when: {event: merge_request}
  release:
    script: ["make release"]
    when: {tag: "v*"}
"""


def _swap(body: bytes, old: str, new: str) -> bytes:
    assert old.encode() in body and len(old) == len(new)
    return body.replace(old.encode(), new.encode())


def _github(
    deployment: Deployment, pipeline: Pipeline, event: str, body: bytes, delivery: str = ""
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(pipeline.webhook_secret.encode(), body),
    }
    url = f"{deployment.url}/webhooks/github/{pipeline.pipeline_id}"
    return httpx.post(url, content=body, headers=headers, timeout=30)


def _gitlab(
    deployment: Deployment, pipeline: Pipeline, event: str, body: bytes, key: str = ""
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.4.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": pipeline.webhook_secret,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "Idempotency-Key": key or str(uuid.uuid4()),
    }
    url = f"{deployment.url}/webhooks/gitlab/{pipeline.pipeline_id}"
    return httpx.post(url, content=body, headers=headers, timeout=30)


@pytest.fixture
def refs(deployment: Deployment, tmp_path: Path) -> Pipeline:
    return register(deployment, tmp_path, PIPELINE)


def _run(deployment: Deployment, run_id: str) -> dict[str, Any]:
    with deployment.client() as http:
        run: dict[str, Any] = http.get(f"/runs/{run_id}").json()
    return run


def _stage_statuses(deployment: Deployment, run_id: str) -> dict[str, str]:
    def settled() -> dict[str, str] | None:
        stages = _run(deployment, run_id).get("stages") or []
        found = {s["name"]: s["status"] for s in stages}
        return found if found and "pending" not in found.values() else None

    return eventually(settled, timeout=30, what="the stages to leave pending")


def test_a_github_pull_request_starts_a_merge_request_run_of_its_head(
    deployment: Deployment, refs: Pipeline
) -> None:
    real = webhook("github", "pull_request-opened.octokit")
    body = _swap(real, json.loads(real)["pull_request"]["head"]["sha"], refs.sha)

    response = _github(deployment, refs, "pull_request", body)

    assert response.status_code == 201, response.text
    run = _run(deployment, response.json()["run_id"])
    assert {k: run[k] for k in ("ref_type", "branch", "commit_sha", "merge_request_iid")} == {
        "ref_type": "merge_request",
        "branch": "changes",
        "commit_sha": refs.sha,
        "merge_request_iid": 2,
    }
    assert (run["target_branch"], run["merge_request_url"]) == (
        "master",
        "https://github.com/Codertocat/Hello-World/pull/2",
    )
    statuses = _stage_statuses(deployment, response.json()["run_id"])
    assert (statuses["mr-only"], statuses["release"]) == ("queued", "skipped")


def test_a_gitlab_merge_request_update_with_new_commits_starts_a_run_once(
    deployment: Deployment, refs: Pipeline
) -> None:
    body = _swap(
        webhook("gitlab", "merge_request-update-oldrev.go-gitlab"),
        "0ab96a10266b95b4b533dcfd98738015fbe70889",
        refs.sha,
    )
    key = str(uuid.uuid4())

    first = _gitlab(deployment, refs, "Merge Request Hook", body, key)
    again = _gitlab(deployment, refs, "Merge Request Hook", body, key)  # GitLab's resend

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["run_id"]) == (200, first.json()["run_id"])
    run = _run(deployment, first.json()["run_id"])
    assert (run["ref_type"], run["branch"], run["merge_request_iid"], run["target_branch"]) == (
        "merge_request",
        "next-feature",
        2,
        "master",
    )


def test_a_gitlab_tag_push_starts_a_tag_run(deployment: Deployment, refs: Pipeline) -> None:
    body = _swap(
        webhook("gitlab", "tag_push-created.go-scm"),
        "2adc9465c4edfc33834e173fe89436a7cb899a1d",
        refs.sha,
    )

    response = _gitlab(deployment, refs, "Tag Push Hook", body)

    assert response.status_code == 201, response.text
    run = _run(deployment, response.json()["run_id"])
    assert (run["ref_type"], run["tag"], run["branch"]) == ("tag", "v1.0.0", "v1.0.0")
    statuses = _stage_statuses(deployment, response.json()["run_id"])
    assert (statuses["mr-only"], statuses["release"]) == ("skipped", "queued")


def test_a_github_tag_push_starts_a_tag_run(deployment: Deployment, refs: Pipeline) -> None:
    body = _swap(
        webhook("github", "push-tag-created.go-scm"),
        "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
        refs.sha,
    )

    response = _github(deployment, refs, "push", body)

    assert response.status_code == 201, response.text
    run = _run(deployment, response.json()["run_id"])
    assert (run["ref_type"], run["tag"]) == ("tag", "v0.0.1")


def test_a_branch_push_and_a_merge_request_of_one_commit_are_two_runs(
    deployment: Deployment, refs: Pipeline
) -> None:
    push = _swap(
        webhook("gitlab", "push-branch-created.go-scm"),
        "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        refs.sha,
    )
    opened = _swap(
        webhook("gitlab", "merge_request-open.go-scm"),
        "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
        refs.sha,
    )

    branch_run = _gitlab(deployment, refs, "Push Hook", push)
    mr_run = _gitlab(deployment, refs, "Merge Request Hook", opened)

    assert (branch_run.status_code, mr_run.status_code) == (201, 201), mr_run.text
    assert branch_run.json()["run_id"] != mr_run.json()["run_id"]
    assert _run(deployment, branch_run.json()["run_id"])["ref_type"] == "branch"


@pytest.mark.parametrize(
    ("event", "name", "why"),
    [
        ("push", "push-branch-deleted.go-scm", "was deleted"),
        ("push", "push-tag-deleted.go-scm", "was deleted"),
        ("push", "push-tag-deleted.octokit", "was deleted"),
        ("ping", "ping.octokit", "ping"),
        ("ping", "ping-app.octokit", "ping"),
    ],
)
def test_a_github_delivery_that_starts_nothing_answers_200_with_why(
    deployment: Deployment, refs: Pipeline, event: str, name: str, why: str
) -> None:
    before = deployment.appended("sluice.triggers")

    response = _github(deployment, refs, event, webhook("github", name))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored" and why in response.json()["detail"]
    assert deployment.appended("sluice.triggers") == before


@pytest.mark.parametrize(
    ("event", "name"),
    [("Push Hook", "push-branch-deleted.go-scm"), ("Tag Push Hook", "tag_push-deleted.go-scm")],
)
def test_a_gitlab_deletion_answers_200_with_why(
    deployment: Deployment, refs: Pipeline, event: str, name: str
) -> None:
    before = deployment.appended("sluice.triggers")

    response = _gitlab(deployment, refs, event, webhook("gitlab", name))

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert "was deleted" in response.json()["detail"]
    assert deployment.appended("sluice.triggers") == before


def test_a_redelivered_rejected_delivery_is_rejected_again_never_a_phantom_run(
    deployment: Deployment, refs: Pipeline
) -> None:
    body = webhook("github", "pull_request-synchronize.octokit")  # its commit is not in the repo
    delivery = str(uuid.uuid4())

    first = _github(deployment, refs, "pull_request", body, delivery)
    again = _github(deployment, refs, "pull_request", body, delivery)

    assert (first.status_code, again.status_code) == (400, 400), again.text
    assert again.json() == first.json()
    assert first.json()["run_id"] is None
    assert "is not in" in first.json()["detail"]
