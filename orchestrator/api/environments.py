"""Routes of environments: what each runs, where, and its deployment history.

Read from the environments read model (``projections/environments.py``). A token bound to
some pipelines sees the environments and deployments those pipelines' runs made; the URL is
the environment's HAProxy frontend, read from the deployer's environment files.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require
from orchestrator.api.context import Context
from orchestrator.api.models import (
    DecisionOut,
    DeploymentOut,
    EnvironmentOut,
    ProtectionOut,
    RollbackIn,
    RollbackOut,
)
from orchestrator.api.protection import guard_environment, protect, unprotect
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.domain import (
    DeploymentAborted,
    DeploymentPromoted,
    DeploySpec,
    Priority,
    RunCreated,
    StageSpec,
    TriggerSource,
)
from orchestrator.domain.deploy_parser import ENVIRONMENT_NAME
from runners.deployer.haproxy import HAProxy

__all__ = ["router"]

router = APIRouter(tags=["environments"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Deployer = Annotated[TokenInfo, Depends(require(Scope.TRIGGER))]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
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


@router.put(
    "/environments/{environment}/protection",
    responses={**_ERRORS, 400: {"description": "see detail"}},
)
def protect_environment(environment: str, token: Admin, ctx: Ctx) -> ProtectionOut:
    """Protect an environment (admin): playing or rolling back its deploys then needs a
    token with the scope ``deploy:<environment>``. It need not have been deployed yet."""
    if not ENVIRONMENT_NAME.fullmatch(environment):
        raise HTTPException(
            400, f"{environment!r} is not an environment name a deploy stage could use"
            " (lower-case letters, digits and '-', at most 40)",
        )  # fmt: skip
    with ctx.db.connection() as conn:
        changed = protect(conn, environment, f"token:{token.token_id}")
    audit_action(ctx, token, "environment.protect", detail={"environment": environment})
    return ProtectionOut(environment=environment, protected=True, changed=changed)


@router.delete("/environments/{environment}/protection", responses=_ERRORS)
def unprotect_environment(environment: str, token: Admin, ctx: Ctx) -> ProtectionOut:
    """Lift an environment's protection (admin)."""
    with ctx.db.connection() as conn:
        changed = unprotect(conn, environment)
    audit_action(ctx, token, "environment.unprotect", detail={"environment": environment})
    return ProtectionOut(environment=environment, protected=False, changed=changed)


@router.post(
    "/environments/{environment}/rollback",
    status_code=202,
    responses=_ERRORS,
)
def rollback(
    environment: str, token: Deployer, ctx: Ctx, body: RollbackIn | None = None
) -> RollbackOut:
    """Redeploy an earlier succeeded deployment's image (rolling, no rebuild) as a new run.
    While a canary or blue-green deployment is under way, abort it instead: the deployer
    sends the traffic back at once (to blue, while it is still warm)."""
    aborted = _abort_under_way(ctx, token, environment)
    if aborted is not None:
        return aborted
    with ctx.db.connection() as conn:
        target = queries.deployment_to_restore(conn, environment, (body or RollbackIn()).to)
        pipeline = queries.pipeline(conn, target["pipeline_id"]) if target else None
    if target is None or pipeline is None or not token.sees(target["pipeline_id"]):
        raise not_found(f"a succeeded earlier deployment of environment {environment!r}")
    guard_environment(ctx, token, environment, "environment.rollback", target["pipeline_id"])
    run = _rollback_run(environment, target, pipeline)
    append(ctx.producer, ctx.names.inbox, run.run_id, run)
    detail = {"environment": environment, "image": target["image"], "run_id": run.run_id}
    audit_action(ctx, token, "environment.rollback", pipeline_id=run.pipeline_id, detail=detail)
    return RollbackOut(
        run_id=run.run_id, image=target["image"], deployment_id=target["deployment_id"]
    )


def _abort_under_way(ctx: Context, token: TokenInfo, environment: str) -> RollbackOut | None:
    """Abort the environment's canary or blue-green deployment under way, if there is one."""
    with ctx.db.connection() as conn:
        going = queries.under_way(conn, environment)
        now = [r for r in queries.environments(conn) if r["name"] == environment]
    if going is None or going["strategy"] not in _ABORTABLE or not token.sees(going["pipeline_id"]):
        return None
    guard_environment(ctx, token, environment, "environment.rollback", going["pipeline_id"])
    decided = _decide(ctx, token, going, "abort")
    return RollbackOut(
        run_id=decided.run_id,
        image=(now[0]["current_image"] or "") if now else "",
        deployment_id=going["deployment_id"],
        aborted=going["deployment_id"],
    )


_ABORTABLE = {"blue-green", "canary"}  # the deployer hears an abort while these run


@router.post(
    "/environments/{environment}/deployments/{deployment_id:path}/promote",
    status_code=202,
    responses={**_ERRORS, 409: {"description": "see detail"}},
)
def promote(environment: str, deployment_id: str, token: Deployer, ctx: Ctx) -> DecisionOut:
    """Let a paused canary go on: 202, 409 when it is not paused."""
    found = _paused_or_running(ctx, token, environment, deployment_id)
    if found["outcome"] != "paused":
        raise HTTPException(409, f"deployment {deployment_id} is {found['outcome']}, not paused")
    guard_environment(ctx, token, environment, "deployment.promote", found["pipeline_id"])
    return _decide(ctx, token, found, "promote")


@router.post(
    "/environments/{environment}/deployments/{deployment_id:path}/abort",
    status_code=202,
    responses={**_ERRORS, 409: {"description": "see detail"}},
)
def abort(environment: str, deployment_id: str, token: Deployer, ctx: Ctx) -> DecisionOut:
    """Stop a canary or blue-green deployment under way; the deployer rolls it back."""
    found = _paused_or_running(ctx, token, environment, deployment_id)
    if found["outcome"] not in {"paused", "running"} or found["strategy"] not in _ABORTABLE:
        raise HTTPException(
            409, f"deployment {deployment_id} ({found['strategy']}, {found['outcome']})"
            " is not a canary or blue-green deployment under way",
        )  # fmt: skip
    guard_environment(ctx, token, environment, "deployment.abort", found["pipeline_id"])
    return _decide(ctx, token, found, "abort")


def _paused_or_running(
    ctx: Context, token: TokenInfo, environment: str, deployment_id: str
) -> queries.Row:
    with ctx.db.connection() as conn:
        found = queries.deployment(conn, environment, deployment_id)
    if found is None or not _sees(token, [found["pipeline_id"]] if found["pipeline_id"] else []):
        raise not_found(f"deployment {deployment_id!r} of environment {environment!r}")
    return found


def _decide(ctx: Context, token: TokenInfo, found: queries.Row, decision: str) -> DecisionOut:
    """Append the person's promote or abort to the inbox (the decider's fence judges it)."""
    ids = {
        "run_id": found["run_id"],
        "stage": found["stage"],
        "attempt": found["attempt"],
        "occurred_at_ms": time.time_ns() // 1_000_000,
        "deployment_id": found["deployment_id"],
        "environment": found["environment"],
        "requested_by": f"token:{token.name}",
    }
    if decision == "promote":
        event: DeploymentPromoted | DeploymentAborted = DeploymentPromoted(
            **ids, step=found["paused_step"]
        )
    else:
        event = DeploymentAborted(**ids)
    append(ctx.producer, ctx.names.inbox, found["run_id"], event)
    detail = {"environment": found["environment"], "deployment_id": found["deployment_id"]}
    audit_action(
        ctx, token, f"deployment.{decision}", pipeline_id=found["pipeline_id"], detail=detail
    )
    return DecisionOut(
        deployment_id=found["deployment_id"],
        environment=found["environment"],
        decision=decision,
        run_id=found["run_id"],
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
