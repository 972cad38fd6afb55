"""Routes of environments: what each runs, where, and its deployment history.

Read from the environments read model (``projections/environments.py``). A token bound to
some pipelines sees the environments and deployments those pipelines' runs made; the URL is
the environment's HAProxy frontend, read from the deployer's environment files.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found, require
from orchestrator.api.context import Context
from orchestrator.api.models import DeploymentOut, EnvironmentOut
from orchestrator.api.tokens import Scope, TokenInfo
from runners.deployer.haproxy import HAProxy

__all__ = ["router"]

router = APIRouter(tags=["environments"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 429)
}


def _sees(token: TokenInfo, pipelines: list[str]) -> bool:
    return not token.pipelines or any(token.sees(p) for p in pipelines)


def _out(ctx: Context, row: queries.Row) -> EnvironmentOut:
    port = HAProxy(ctx.settings.haproxy_dir).port_of(row["name"])
    url = f"http://127.0.0.1:{port}/" if port is not None else None
    fields = {k: row[k] for k in EnvironmentOut.model_fields if k != "url"}
    return EnvironmentOut(**fields, url=url)


@router.get("/environments", responses=_ERRORS)
def list_environments(token: Reader, ctx: Ctx) -> list[EnvironmentOut]:
    """Every environment this token may see."""
    with ctx.db.connection() as conn:
        rows = queries.environments(conn)
    return [_out(ctx, r) for r in rows if _sees(token, r["pipelines"])]


@router.get("/environments/{environment}", responses=_ERRORS)
def get_environment(environment: str, token: Reader, ctx: Ctx) -> EnvironmentOut:
    """One environment: its current image and URL."""
    with ctx.db.connection() as conn:
        rows = [r for r in queries.environments(conn) if r["name"] == environment]
    if not rows or not _sees(token, rows[0]["pipelines"]):
        raise not_found(f"environment {environment!r}")
    return _out(ctx, rows[0])


@router.get("/environments/{environment}/deployments", responses=_ERRORS)
def list_deployments(
    environment: str,
    token: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeploymentOut]:
    """The environment's deployments, newest first."""
    with ctx.db.connection() as conn:
        rows = queries.deployments_of(conn, environment, limit)
    shown = [r for r in rows if _sees(token, [r["pipeline_id"]] if r["pipeline_id"] else [])]
    if not shown:
        raise not_found(f"environment {environment!r}")
    return [DeploymentOut(**r) for r in shown]
