"""Routes of pipelines: register, list, get, update (``admin`` to write, ``read`` to see)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.models import PipelineCreate, PipelineIn, PipelineOut
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.api.views import pipeline_out
from orchestrator.domain import Priority
from orchestrator.domain.records import PipelineUpdated
from orchestrator.submit import register_pipeline

__all__ = ["router", "set_webhook_secret", "webhook_secret"]

router = APIRouter(tags=["pipelines"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
_SHOWN_WITHIN_S = 10.0
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 409, 429)
}


@router.post("/pipelines", status_code=201, responses=_ERRORS)
def create_pipeline(body: PipelineCreate, token: Admin, ctx: Ctx) -> PipelineOut:
    """Register a pipeline (409 if the id is taken); ``webhook_secret`` is kept encrypted."""
    visible(token, body.pipeline_id)
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, body.pipeline_id) is not None:
            raise HTTPException(409, f"pipeline {body.pipeline_id!r} exists; PUT to update it")
    register_pipeline(
        ctx.producer,
        pipeline_id=body.pipeline_id,
        name=body.name,
        repo_url=body.repo_url,
        config_path=body.config_path,
        default_branch=body.default_branch,
        priority=Priority(body.priority) if body.priority else None,
        prefix=ctx.names.prefix,
    )
    if body.webhook_secret:
        set_webhook_secret(ctx, body.pipeline_id, body.webhook_secret)
    audit_action(ctx, token, "pipeline.create", pipeline_id=body.pipeline_id)
    return _shown(ctx, body.pipeline_id, since=None)


@router.put("/pipelines/{pipeline_id}", responses=_ERRORS)
def update_pipeline(pipeline_id: str, body: PipelineIn, token: Admin, ctx: Ctx) -> PipelineOut:
    """Update a pipeline's fields (404 if it does not exist)."""
    before = _get(ctx, token, pipeline_id)
    record = PipelineUpdated(
        pipeline_id=pipeline_id,
        name=body.name,
        repo_url=body.repo_url,
        config_path=body.config_path,
        default_branch=body.default_branch,
        priority=Priority(body.priority) if body.priority else None,
        occurred_at_ms=time.time_ns() // 1_000_000,
    )
    append(ctx.producer, ctx.names.pipelines, pipeline_id, record)
    if body.webhook_secret:
        set_webhook_secret(ctx, pipeline_id, body.webhook_secret)
    audit_action(ctx, token, "pipeline.update", pipeline_id=pipeline_id)
    return _shown(ctx, pipeline_id, since=before.updated_at)


@router.get("/pipelines", responses=_ERRORS)
def list_pipelines(token: Reader, ctx: Ctx) -> list[PipelineOut]:
    """Every pipeline this token may see."""
    with ctx.db.connection() as conn:
        rows = queries.pipelines(conn)
    return [pipeline_out(r) for r in rows if token.sees(r["pipeline_id"])]


@router.get("/pipelines/{pipeline_id}", responses=_ERRORS)
def get_pipeline(pipeline_id: str, token: Reader, ctx: Ctx) -> PipelineOut:
    """One pipeline."""
    return _get(ctx, token, pipeline_id)


def _get(ctx: Context, token: TokenInfo, pipeline_id: str) -> PipelineOut:
    visible(token, pipeline_id)
    with ctx.db.connection() as conn:
        row = queries.pipeline(conn, pipeline_id)
    if row is None:
        raise not_found(f"pipeline {pipeline_id!r}")
    return pipeline_out(row)


def _shown(ctx: Context, pipeline_id: str, *, since: Any) -> PipelineOut:
    """The pipeline once the read model shows the write (read-your-writes, bounded)."""
    deadline = time.monotonic() + _SHOWN_WITHIN_S
    pause = 0.005
    while True:
        with ctx.db.connection() as conn:
            row = queries.pipeline(conn, pipeline_id)
        if row is not None and (since is None or row["updated_at"] > since):
            # this process's trigger route sees the write now, not when the notice arrives
            ctx.pipeline_rows.changed()
            return pipeline_out(row)
        if time.monotonic() > deadline:
            raise HTTPException(
                503,
                "the pipeline was recorded but the read model has not shown it yet;"
                " is `sluice processor projection` running?",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def set_webhook_secret(ctx: Context, pipeline_id: str, secret: str) -> None:
    """Store the pipeline's webhook secret, encrypted with the secrets key."""
    ciphertext = ctx.fernet.encrypt(secret.encode())
    with ctx.db.connection() as conn:
        conn.execute(
            "INSERT INTO pipeline_webhooks (pipeline_id, ciphertext) VALUES (%s, %s)"
            " ON CONFLICT (pipeline_id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,"
            " updated_at = now()",
            (pipeline_id, ciphertext),
        )


def webhook_secret(ctx: Context, pipeline_id: str) -> bytes | None:
    """The pipeline's webhook secret, or None when it has none."""
    with ctx.db.connection() as conn:
        row = conn.execute(
            "SELECT ciphertext FROM pipeline_webhooks WHERE pipeline_id = %s", (pipeline_id,)
        ).fetchone()
    if row is None:
        return None
    secret: bytes = ctx.fernet.decrypt(bytes(row[0]))
    return secret
