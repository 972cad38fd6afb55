"""GitHub and GitLab push webhooks: signatures good, bad, missing, and redelivery."""

from __future__ import annotations

import json
import uuid

import httpx

from orchestrator.api.webhooks import github_signature
from tests.integration.api.conftest import Deployment, Pipeline


def _push(pipeline: Pipeline, sha: str | None = None) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "after": sha or pipeline.sha}).encode()


def _github(
    deployment: Deployment,
    pipeline: Pipeline,
    body: bytes,
    *,
    secret: str | None = None,
    delivery: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery or uuid.uuid4().hex}
    if signature is None and secret is not None:
        signature = github_signature(secret.encode(), body)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(
        f"{deployment.url}/webhooks/github/{pipeline.pipeline_id}",
        content=body,
        headers=headers,
        timeout=30,
    )


def test_a_signed_github_push_creates_a_run(deployment: Deployment, pipeline: Pipeline) -> None:
    response = _github(deployment, pipeline, _push(pipeline), secret=pipeline.webhook_secret)
    assert response.status_code == 201, response.text
    with deployment.client() as http:
        run = http.get(f"/runs/{response.json()['run_id']}").json()
    assert (run["source"], run["commit_sha"]) == ("webhook", pipeline.sha)


def test_a_wrong_github_signature_is_401_and_appends_nothing(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    before = deployment.appended("sluice.triggers")
    response = _github(deployment, pipeline, _push(pipeline), secret="not-the-secret")
    assert response.status_code == 401
    assert deployment.appended("sluice.triggers") == before


def test_a_missing_github_signature_is_401_and_appends_nothing(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    before = deployment.appended("sluice.triggers")
    assert _github(deployment, pipeline, _push(pipeline)).status_code == 401
    assert deployment.appended("sluice.triggers") == before


def test_a_signature_of_another_body_is_401(deployment: Deployment, pipeline: Pipeline) -> None:
    signed = github_signature(pipeline.webhook_secret.encode(), b"{}")
    assert _github(deployment, pipeline, _push(pipeline), signature=signed).status_code == 401


def test_a_redelivered_github_push_answers_the_first_run(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    body, delivery = _push(pipeline), uuid.uuid4().hex
    first = _github(deployment, pipeline, body, secret=pipeline.webhook_secret, delivery=delivery)
    again = _github(deployment, pipeline, body, secret=pipeline.webhook_secret, delivery=delivery)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {
        "status": "deduplicated",
        "run_id": first.json()["run_id"],
        "detail": "redelivery",
    }


def test_a_second_delivery_of_the_same_push_is_deduplicated(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    first = _github(deployment, pipeline, _push(pipeline), secret=pipeline.webhook_secret)
    other = _github(deployment, pipeline, _push(pipeline), secret=pipeline.webhook_secret)
    assert other.status_code == 200
    assert other.json()["run_id"] == first.json()["run_id"]


def _gitlab(deployment: Deployment, pipeline: Pipeline, token: str | None) -> httpx.Response:
    body = {"ref": "refs/heads/main", "checkout_sha": pipeline.sha, "after": pipeline.sha}
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": uuid.uuid4().hex}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return httpx.post(
        f"{deployment.url}/webhooks/gitlab/{pipeline.pipeline_id}",
        json=body,
        headers=headers,
        timeout=30,
    )


def test_a_gitlab_push_with_the_token_creates_a_run(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    assert _gitlab(deployment, pipeline, pipeline.webhook_secret).status_code == 201


def test_a_gitlab_push_with_a_wrong_or_missing_token_is_401_and_appends_nothing(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    before = deployment.appended("sluice.triggers")
    assert _gitlab(deployment, pipeline, "wrong").status_code == 401
    assert _gitlab(deployment, pipeline, None).status_code == 401
    assert deployment.appended("sluice.triggers") == before


def test_a_webhook_for_a_pipeline_without_a_secret_is_404(deployment: Deployment) -> None:
    response = httpx.post(f"{deployment.url}/webhooks/github/nope", content=b"{}")
    assert response.status_code == 404


def test_a_signature_header_with_non_ascii_bytes_is_401(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    response = httpx.post(
        f"{deployment.url}/webhooks/github/{pipeline.pipeline_id}",
        content=_push(pipeline),
        headers=[(b"X-Hub-Signature-256", b"sha256=\xff\xfe")],
    )
    assert response.status_code == 401


def test_a_push_to_a_branch_with_a_nul_character_is_400_and_appends_nothing(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    before = deployment.appended("sluice.triggers")
    body = json.dumps({"ref": "refs/heads/a\u0000b", "after": pipeline.sha}).encode()
    response = _github(deployment, pipeline, body, secret=pipeline.webhook_secret)
    assert response.status_code == 400
    assert deployment.appended("sluice.triggers") == before
