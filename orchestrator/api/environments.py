"""Routes of environments: what each runs, where, and its deployment history.

Read from the environments read model (``projections/environments.py``). A token bound to
some pipelines sees the environments and deployments those pipelines' runs made; the URL is
the environment's HAProxy frontend, read from the deployer's environment files.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require
from orchestrator.api.context import Context
from orchestrator.api.models import DeploymentOut, EnvironmentOut, RollbackIn, RollbackOut
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.domain import DeploySpec, Priority, RunCreated, StageSpec, TriggerSource
from runners.deployer.haproxy import HAProxy

__all__ = ["router"]

router = APIRouter(tags=["environments"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Deployer = Annotated[TokenInfo, Depends(require(Scope.TRIGGER))]
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


@router.post("/environments/{environment}/rollback", status_code=202, responses=_ERRORS)
def rollback(
    environment: str, token: Deployer, ctx: Ctx, body: RollbackIn | None = None
) -> RollbackOut:
    """Redeploy an earlier succeeded deployment's image (rolling, no rebuild) as a new run."""
    with ctx.db.connection() as conn:
        target = queries.deployment_to_restore(conn, environment, (body or RollbackIn()).to)
        pipeline = queries.pipeline(conn, target["pipeline_id"]) if target else None
    if target is None or pipeline is None or not token.sees(target["pipeline_id"]):
        raise not_found(f"a succeeded earlier deployment of environment {environment!r}")
    run = _rollback_run(environment, target, pipeline)
    append(ctx.producer, ctx.names.inbox, run.run_id, run)
    detail = {"environment": environment, "image": target["image"], "run_id": run.run_id}
    audit_action(ctx, token, "environment.rollback", pipeline_id=run.pipeline_id, detail=detail)
    return RollbackOut(
        run_id=run.run_id, image=target["image"], deployment_id=target["deployment_id"]
    )


def _rollback_run(environment: str, target: queries.Row, pipeline: queries.Row) -> RunCreated:
    spec = DeploySpec(
        environment=environment,
        image=target["image"],
        replicas=target["replicas"],
        port=target["port"],
        health_check_path=target["health_check_path"],
    )
    run_id = str(uuid.uuid4())
    return RunCreated(
        run_id=run_id,
        occurred_at_ms=time.time_ns() // 1_000_000,
        pipeline_id=target["pipeline_id"],
        pipeline_name=pipeline["name"],
        branch=target["branch"],
        commit_sha=target["commit_sha"],
        repo_url=pipeline["repo_url"],
        source=TriggerSource.API,
        priority=Priority.CRITICAL,
        dedup_key=f"rollback|{environment}|{run_id}",
        stages=(StageSpec(name=f"rollback-{environment}", script=(), deploy=spec),),
    )
