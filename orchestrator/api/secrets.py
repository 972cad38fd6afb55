"""Routes of a pipeline's secrets: set, list, delete (``admin``). Values are write-only:
they go to the encrypted store the runners read, and no response ever carries one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.models import SecretIn, SecretOut
from orchestrator.api.tokens import Scope, TokenInfo
from runners.secrets import SecretStore, load_key

__all__ = ["router"]

router = APIRouter(tags=["secrets"])
Ctx = Annotated[Context, Depends(context)]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 429)
}


def _store(ctx: Context) -> SecretStore:
    """The store the runners read, with the key the runners load."""
    return SecretStore(dsn=ctx.settings.pg_dsn, key=_key(ctx), schema=ctx.api.pg_schema)


def _key(ctx: Context) -> bytes:
    return load_key(env_key=ctx.api.secrets_key, state_dir=ctx.api.state_dir)


def _pipeline(ctx: Context, token: TokenInfo, pipeline_id: str) -> None:
    visible(token, pipeline_id)
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")


@router.put("/pipelines/{pipeline_id}/secrets/{name}", status_code=204, responses=_ERRORS)
def set_secret(pipeline_id: str, name: str, body: SecretIn, token: Admin, ctx: Ctx) -> Response:
    """Set (or replace) a secret; 204, nothing echoed."""
    _pipeline(ctx, token, pipeline_id)
    _store(ctx).set(pipeline_id, name, body.value, environment=body.environment)
    audit_action(ctx, token, "secret.set", pipeline_id=pipeline_id, detail={"name": name})
    return Response(status_code=204)


@router.get("/pipelines/{pipeline_id}/secrets", responses=_ERRORS)
def list_secrets(pipeline_id: str, token: Admin, ctx: Ctx) -> list[SecretOut]:
    """The pipeline's secret names and times, never values."""
    _pipeline(ctx, token, pipeline_id)
    infos = _store(ctx).list_secrets(pipeline_id)
    return [
        SecretOut(
            name=i.name, environment=i.environment, created_at=i.created_at, updated_at=i.updated_at
        )
        for i in infos
    ]


@router.delete("/pipelines/{pipeline_id}/secrets/{name}", status_code=204, responses=_ERRORS)
def delete_secret(
    pipeline_id: str, name: str, token: Admin, ctx: Ctx, environment: str = ""
) -> Response:
    """Delete a secret; 404 if there is none of that name."""
    _pipeline(ctx, token, pipeline_id)
    if not _store(ctx).delete(pipeline_id, name, environment=environment):
        raise not_found(f"secret {name!r}")
    audit_action(ctx, token, "secret.delete", pipeline_id=pipeline_id, detail={"name": name})
    return Response(status_code=204)
