"""Git push webhooks: GitHub (``X-Hub-Signature-256``, HMAC-SHA256 of the raw body) and
GitLab (``X-Gitlab-Token``), both checked in constant time against the pipeline's webhook
secret. A bad or missing signature is 401 and nothing is appended. A redelivery (same
delivery id) answers with the run of the first delivery; a different delivery of the same
push is de-duplicated by the trigger processor (same pipeline, branch and commit).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found
from orchestrator.api.context import Context
from orchestrator.api.pipelines import webhook_secret
from orchestrator.api.trigger import trigger
from orchestrator.domain import TriggerSource
from schemas.errors import SluiceError

__all__ = ["github_signature", "router"]

router = APIRouter(tags=["webhooks"])
Ctx = Annotated[Context, Depends(context)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (200, 202, 400, 401, 404)
}
_NO_COMMIT = "0" * 40
_MAX_BODY = 5 * 1024 * 1024


class Delivery(BaseModel):
    """What a webhook delivery led to."""

    status: str
    run_id: str | None = None
    detail: str | None = None


def github_signature(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@router.post("/webhooks/github/{pipeline_id}", status_code=201, responses=_ERRORS)
async def github(pipeline_id: str, request: Request, response: Response, ctx: Ctx) -> Delivery:
    """A GitHub push (``ping`` answers 200)."""
    body = await _body(request)
    secret = await _secret(ctx, pipeline_id)
    sent = request.headers.get("x-hub-signature-256", "").encode("latin-1")
    if not hmac.compare_digest(github_signature(secret, body).encode(), sent):
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256 for this pipeline")
    if request.headers.get("x-github-event", "push") != "push":
        return Delivery(status="ignored", detail="only push events start runs")
    delivery = "github:" + request.headers.get("x-github-delivery", "")
    return await _push(ctx, pipeline_id, _payload(body), delivery, response)


@router.post("/webhooks/gitlab/{pipeline_id}", status_code=201, responses=_ERRORS)
async def gitlab(pipeline_id: str, request: Request, response: Response, ctx: Ctx) -> Delivery:
    """A GitLab push hook."""
    body = await _body(request)
    secret = await _secret(ctx, pipeline_id)
    sent = request.headers.get("x-gitlab-token", "").encode("latin-1")
    if not hmac.compare_digest(secret, sent):
        raise HTTPException(401, "missing or wrong X-Gitlab-Token for this pipeline")
    if request.headers.get("x-gitlab-event", "Push Hook") != "Push Hook":
        return Delivery(status="ignored", detail="only push hooks start runs")
    uuid_header = request.headers.get("x-gitlab-event-uuid") or request.headers.get(
        "idempotency-key", ""
    )
    return await _push(ctx, pipeline_id, _payload(body), "gitlab:" + uuid_header, response)


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise HTTPException(413, "webhook payload over 5 MiB")
    return body


async def _secret(ctx: Context, pipeline_id: str) -> bytes:
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    secret = await run_in_threadpool(webhook_secret, ctx, pipeline_id)
    if secret is None:
        raise not_found(f"webhook of pipeline {pipeline_id!r} (set its webhook_secret)")
    return secret


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise HTTPException(400, f"the payload is not JSON: {e}") from e
    if not isinstance(payload, dict):
        raise HTTPException(400, "the payload is not a JSON object")
    return payload


async def _push(
    ctx: Context, pipeline_id: str, payload: dict[str, Any], delivery: str, response: Response
) -> Delivery:
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    ref, sha = payload.get("ref"), payload.get("checkout_sha") or payload.get("after")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise HTTPException(400, "a push payload needs 'ref' and 'after' (or 'checkout_sha')")
    if not ref.startswith("refs/heads/") or sha == _NO_COMMIT:
        response.status_code = 200
        return Delivery(status="ignored", detail="not a branch push (tag or deletion)")
    branch = ref.removeprefix("refs/heads/")
    outcome = await run_in_threadpool(_deliver, ctx, pipeline_id, branch, sha, delivery)
    response.status_code = {"created": 201, "rejected": 400, "pending": 202}.get(
        outcome.status, 200
    )
    return outcome


def _deliver(ctx: Context, pipeline_id: str, branch: str, sha: str, delivery: str) -> Delivery:
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")
        seen = _claim(conn, delivery, pipeline_id)
    if seen is not None:
        return Delivery(status="deduplicated", run_id=seen or None, detail="redelivery")
    try:
        outcome = trigger(
            ctx,
            pipeline_id=pipeline_id,
            branch=branch,
            commit_sha=sha,
            source=TriggerSource.WEBHOOK,
            requested_by=delivery.partition(":")[0],
        )
    except SluiceError:
        _release(ctx, delivery)
        raise
    with ctx.db.connection() as conn:
        conn.execute(
            "UPDATE webhook_deliveries SET run_id = %s WHERE delivery_id = %s",
            (outcome.run_id, delivery),
        )
    return Delivery(status=outcome.kind, run_id=outcome.run_id, detail=outcome.reason)


def _claim(conn: Any, delivery: str, pipeline_id: str) -> str | None:
    """None if this delivery is new (now claimed), else the run id of its first delivery."""
    if delivery.endswith(":"):
        return None  # no delivery id: rely on the trigger processor's de-duplication
    row = conn.execute(
        "INSERT INTO webhook_deliveries (delivery_id, pipeline_id, run_id) VALUES (%s, %s, '')"
        " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
        (delivery, pipeline_id),
    ).fetchone()
    if row is not None:
        return None
    seen = conn.execute(
        "SELECT run_id FROM webhook_deliveries WHERE delivery_id = %s", (delivery,)
    ).fetchone()
    return "" if seen is None else str(seen[0])


def _release(ctx: Context, delivery: str) -> None:
    with ctx.db.connection() as conn:
        conn.execute("DELETE FROM webhook_deliveries WHERE delivery_id = %s", (delivery,))
