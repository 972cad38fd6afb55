"""Artifacts through the API: upload streamed to MinIO, download, limit, expiry, gc."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
from minio import Minio

from orchestrator.api.db import Database
from orchestrator.api.retention import collect_garbage
from orchestrator.api.signed_urls import download_path, url_key
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import ARTIFACT_LIMIT, Deployment, serve
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


def _upload(
    deployment: Deployment, run_id: str, data: bytes, *, stage: str = "build"
) -> httpx.Response:
    with deployment.client() as http:
        return http.post(
            f"/runs/{run_id}/artifacts",
            data={"name": "report.bin", "stage_id": stage},
            files={"file": ("report.bin", data, "application/x-test")},
        )


def test_an_upload_is_201_with_size_sha256_and_a_download_url(
    deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    data = os.urandom(300_000)
    response = _upload(deployment, run_id, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["size"], body["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert body["download_url"].startswith(
        f"{deployment.url}/artifacts/{body['artifact_id']}/download?expires="
    )


def test_a_download_returns_the_bytes_with_type_and_disposition(
    deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    data = os.urandom(70_000)
    artifact_id = _upload(deployment, run_id, data).json()["artifact_id"]
    with deployment.client() as http:
        response = http.get(f"/artifacts/{artifact_id}")
        listed = http.get(f"/runs/{run_id}/artifacts").json()
    assert response.content == data
    assert response.headers["content-type"] == "application/x-test"
    assert "report.bin" in response.headers["content-disposition"]
    assert [a["artifact_id"] for a in listed] == [artifact_id]


def test_an_upload_over_the_limit_is_413(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    assert _upload(deployment, run_id, b"x" * (ARTIFACT_LIMIT + 1)).status_code == 413


def test_an_upload_to_an_unknown_run_or_stage_is_404(
    deployment: Deployment, trigger: Trigger
) -> None:
    run_id = trigger().json()["run_id"]
    assert _upload(deployment, "nope", b"x").status_code == 404
    assert _upload(deployment, run_id, b"x", stage="nope").status_code == 404


def test_an_unknown_artifact_is_404(deployment: Deployment) -> None:
    with deployment.client() as http:
        assert http.get("/artifacts/nope").status_code == 404


def test_an_artifact_expired_a_year_ago_answers_410_before_and_after_gc_which_keeps_its_row(
    deployment: Deployment, trigger: Trigger, minio_client: Minio
) -> None:
    run_id = trigger().json()["run_id"]
    artifact_id = _upload(deployment, run_id, b"old").json()["artifact_id"]
    with deployment.connect() as conn:  # time passes: the artifact's expiry is a year behind
        conn.execute(
            "UPDATE artifacts SET expires_at = now() - interval '1 year' WHERE artifact_id = %s",
            (artifact_id,),
        )
        [path] = conn.execute(
            "SELECT storage_path FROM artifacts WHERE artifact_id = %s", (artifact_id,)
        ).fetchone() or ("",)
    with deployment.client() as http:
        assert http.get(f"/artifacts/{artifact_id}").status_code == 410
        db = Database(dsn=deployment.settings.pg_dsn, schema=deployment.schema)
        inbox = TopicNames(deployment.settings.topic_prefix).inbox
        try:
            assert (
                collect_garbage(db, minio_client, producer(deployment.settings), inbox=inbox) >= 1
            )
        finally:
            db.close()
        with deployment.connect() as conn:
            probe = "SELECT expired_at IS NOT NULL FROM artifacts WHERE artifact_id = %s"
            eventually(
                lambda: conn.execute(probe, (artifact_id,)).fetchone() == (True,),
                what="the projection to mark the artifact expired",
            )
        assert http.get(f"/artifacts/{artifact_id}").status_code == 410
    bucket, _, key = path.partition("/")
    assert list(minio_client.list_objects(bucket, prefix=key)) == []


def _key(deployment: Deployment) -> bytes:
    return url_key(deployment.env["SLUICE_SECRETS_KEY"].encode())


def test_the_download_url_works_without_a_token(deployment: Deployment, trigger: Trigger) -> None:
    data = os.urandom(50_000)
    body = _upload(deployment, trigger().json()["run_id"], data).json()

    response = httpx.get(body["download_url"], timeout=30)

    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()


def test_a_signed_link_past_its_expiry_is_403(deployment: Deployment, trigger: Trigger) -> None:
    artifact_id = _upload(deployment, trigger().json()["run_id"], b"x").json()["artifact_id"]
    past = int(time.time()) - 1

    response = httpx.get(deployment.url + download_path(_key(deployment), artifact_id, past))

    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_a_tampered_or_borrowed_signature_is_403(deployment: Deployment, trigger: Trigger) -> None:
    run_id = trigger().json()["run_id"]
    mine = _upload(deployment, run_id, b"mine").json()
    other = _upload(deployment, run_id, b"other").json()
    borrowed = mine["download_url"].replace(mine["artifact_id"], other["artifact_id"])
    later = int(time.time()) + 86_400
    forged = f"/artifacts/{mine['artifact_id']}/download?expires={later}&signature={'0' * 64}"

    assert httpx.get(borrowed).status_code == 403
    assert httpx.get(deployment.url + forged).status_code == 403
    assert httpx.get(f"{deployment.url}/artifacts/{mine['artifact_id']}/download").status_code == (
        403
    )


def test_a_download_url_works_until_its_ttl_runs_out_then_403(
    deployment: Deployment, trigger: Trigger
) -> None:
    short = serve(deployment.settings, replace(deployment.api_settings, artifact_url_ttl_s=2))
    try:
        run_id = trigger().json()["run_id"]
        artifact_id = _upload(deployment, run_id, b"deploy me").json()["artifact_id"]
        with httpx.Client(base_url=short.url, timeout=30) as http:
            [listed] = http.get(
                f"/runs/{run_id}/artifacts",
                headers={"Authorization": f"Bearer {deployment.admin_token}"},
            ).json()
            assert listed["artifact_id"] == artifact_id
            assert httpx.get(listed["download_url"]).content == b"deploy me"
            eventually(
                lambda: httpx.get(listed["download_url"]).status_code == 403,
                timeout=30,
                what="the link to expire",
            )
            authed = http.get(
                f"/artifacts/{artifact_id}",
                headers={"Authorization": f"Bearer {deployment.admin_token}"},
            )
            assert authed.content == b"deploy me"  # the authenticated path stays
    finally:
        short.stop()
