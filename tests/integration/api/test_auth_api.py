"""Tokens, scopes, per-pipeline access and the rate limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from orchestrator.api.tokens import revoke_token
from tests.integration.api.conftest import Deployment, Pipeline, Served, serve
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


def test_a_missing_token_is_401(deployment: Deployment, pipeline: Pipeline) -> None:
    with httpx.Client(base_url=deployment.url) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 401


def test_an_unknown_token_is_401(deployment: Deployment, pipeline: Pipeline) -> None:
    with deployment.client("sl_nope_nope") as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 401


def test_a_revoked_token_is_401(deployment: Deployment, pipeline: Pipeline) -> None:
    token = deployment.token("read")
    token_id = token.split("_")[1]
    with deployment.client() as admin:
        assert admin.delete(f"/tokens/{token_id}").status_code == 204
    with deployment.client(token) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 401


def test_a_token_revoked_through_the_api_is_refused_at_once_though_just_used(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    token = deployment.token("read")
    with deployment.client(token) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 200
    with deployment.client() as admin:
        assert admin.delete(f"/tokens/{token.split('_')[1]}").status_code == 204
    with deployment.client(token) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 401


def test_a_token_revoked_in_postgresql_is_refused_once_its_change_notice_arrives(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    token = deployment.token("read", "trigger")
    assert trigger(token=token).status_code == 201
    with deployment.connect() as conn:
        assert revoke_token(conn, token.split("_")[1])

    def refused() -> bool:
        with deployment.client(token) as http:
            read = http.get(f"/pipelines/{pipeline.pipeline_id}").status_code
        return (read, trigger(token=token).status_code) == (401, 401)

    # the deployment keeps tokens for an hour: only the notice can drop this one
    eventually(refused, timeout=10, what="the revoked token to be refused")


def test_a_token_without_access_to_the_pipeline_sees_404(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    outsider = deployment.token("read", "trigger", pipelines=("someone-else",))
    with deployment.client(outsider) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 404
        assert http.get(f"/runs/{run_id}").status_code == 404
        assert http.get(f"/pipelines/{pipeline.pipeline_id}/runs/{run_id}").status_code == 404
    assert trigger(token=outsider).status_code == 404


def test_a_token_limited_to_the_pipeline_sees_it(
    deployment: Deployment, pipeline: Pipeline
) -> None:
    insider = deployment.token("read", pipelines=(pipeline.pipeline_id,))
    with deployment.client(insider) as http:
        assert http.get(f"/pipelines/{pipeline.pipeline_id}").status_code == 200
        listed = [p["pipeline_id"] for p in http.get("/pipelines").json()]
    assert listed == [pipeline.pipeline_id]


def test_a_read_token_may_not_trigger_403(deployment: Deployment, trigger: Trigger) -> None:
    assert trigger(token=deployment.token("read")).status_code == 403


def test_a_token_is_created_through_the_api_and_works(deployment: Deployment) -> None:
    with deployment.client() as admin:
        made = admin.post("/tokens", json={"name": "ci", "scopes": ["read"]})
    assert made.status_code == 201
    with deployment.client(made.json()["token"]) as http:
        assert http.get("/pipelines").status_code == 200


def test_an_unknown_scope_is_400(deployment: Deployment) -> None:
    with deployment.client() as admin:
        assert admin.post("/tokens", json={"name": "x", "scopes": ["root"]}).status_code == 400


def test_the_token_table_holds_only_hashes(deployment: Deployment) -> None:
    token = deployment.token("read")
    with deployment.connect() as conn:
        stored = [r[0] for r in conn.execute("SELECT secret_sha256 FROM api_tokens")]
    assert token not in stored
    assert all(len(s) == 64 for s in stored)


@pytest.fixture(scope="module")
def limited(deployment: Deployment) -> Iterator[Served]:
    """A second API process limited to 5 requests/s in bursts of 3."""
    api = replace(deployment.api_settings, rate_per_s=5.0, burst=3)
    served = serve(deployment.settings, api, loops=False)
    yield served
    served.stop()


def test_over_the_rate_limit_is_429_with_retry_after_then_it_recovers(
    deployment: Deployment, limited: Served
) -> None:
    token = deployment.token("read")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=limited.url, headers=headers) as http:
        codes = [http.get("/pipelines") for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1].headers["Retry-After"]) >= 1
        eventually(lambda: http.get("/pipelines").status_code == 200, timeout=5)
