"""Git webhooks: GitHub (``X-Hub-Signature-256``, HMAC-SHA256 of the raw body) and
GitLab (``X-Gitlab-Token``), both checked in constant time against the pipeline's webhook
secret. A bad or missing signature is 401 and nothing is appended.

Branch pushes, tag pushes and merge (pull) requests start runs (see
:mod:`orchestrator.api.webhook_payloads` for which delivery asks for what); every other
delivery answers 200 ``ignored`` with the reason. A redelivery (same delivery id: GitHub's
``X-GitHub-Delivery``, GitLab's ``Idempotency-Key``) answers with the run of the first
delivery; a different delivery of the same ref and commit is de-duplicated by the trigger
processor (same pipeline, branch, commit, and tag or merge request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found
from orchestrator.api.context import Context
from orchestrator.api.pipelines import webhook_secret
from orchestrator.api.trigger import trigger
from orchestrator.api.webhook_payloads import (
    BadPayload,
    Ignored,
    RunAsked,
    github_delivery,
    gitlab_delivery,
)
from orchestrator.domain import TriggerSource
from schemas.errors import SluiceError

__all__ = ["github_signature", "router"]

router = APIRouter(tags=["webhooks"])
Ctx = Annotated[Context, Depends(context)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (200, 202, 400, 401, 404)
}
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
    """A GitHub push, tag push or pull request (anything else answers 200 with why)."""
    body = await _body(request)
    secret = await _secret(ctx, pipeline_id)
    sent = request.headers.get("x-hub-signature-256", "").encode("latin-1")
    if not hmac.compare_digest(github_signature(secret, body).encode(), sent):
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256 for this pipeline")
    event = request.headers.get("x-github-event", "push")
    asked = _asked(github_delivery, event, _payload(body))
    delivery = "github:" + request.headers.get("x-github-delivery", "")
    return await _start(ctx, pipeline_id, asked, delivery, response)


@router.post("/webhooks/gitlab/{pipeline_id}", status_code=201, responses=_ERRORS)
async def gitlab(pipeline_id: str, request: Request, response: Response, ctx: Ctx) -> Delivery:
    """A GitLab Push, Tag Push or Merge Request Hook (anything else answers 200 with why)."""
    body = await _body(request)
    secret = await _secret(ctx, pipeline_id)
    sent = request.headers.get("x-gitlab-token", "").encode("latin-1")
    if not hmac.compare_digest(secret, sent):
        raise HTTPException(401, "missing or wrong X-Gitlab-Token for this pipeline")
    event = request.headers.get("x-gitlab-event", "Push Hook")
    asked = _asked(gitlab_delivery, event, _payload(body))
    # Idempotency-Key survives GitLab's retries and resends; the event UUID is older GitLab's.
    key = request.headers.get("idempotency-key") or request.headers.get("x-gitlab-event-uuid", "")
    return await _start(ctx, pipeline_id, asked, "gitlab:" + key, response)


def _asked(
    read: Callable[[str, dict[str, Any]], RunAsked | Ignored], event: str, payload: dict[str, Any]
) -> RunAsked | Ignored:
    try:
        return read(event, payload)
    except BadPayload as e:
        raise HTTPException(400, str(e)) from e


async def _start(
    ctx: Context, pipeline_id: str, asked: RunAsked | Ignored, delivery: str, response: Response
) -> Delivery:
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    if isinstance(asked, Ignored):
        response.status_code = 200
        return Delivery(status="ignored", detail=asked.reason)
    outcome = await run_in_threadpool(_deliver, ctx, pipeline_id, asked, delivery)
    response.status_code = {"created": 201, "rejected": 400, "pending": 202}.get(
        outcome.status, 200
    )
    return outcome


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


def _deliver(ctx: Context, pipeline_id: str, asked: RunAsked, delivery: str) -> Delivery:
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
            branch=asked.branch,
            commit_sha=asked.commit_sha,
            source=TriggerSource.WEBHOOK,
            requested_by=delivery.partition(":")[0],
            ref=asked.ref,
        )
    except SluiceError:
        _release(ctx, delivery)
        raise
    if outcome.kind == "rejected":
        # No run exists: a redelivery is judged again (and rejected again), never answered
        # with the run_id of a run that was never created.
        _release(ctx, delivery)
        return Delivery(status="rejected", detail=outcome.reason)
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
