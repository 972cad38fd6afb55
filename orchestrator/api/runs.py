"""Routes of runs: trigger, read, list, cancel, retry a stage, play a manual stage."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require, require_async, visible
from orchestrator.api.branches import BranchMissing, BranchUnknown
from orchestrator.api.context import Context
from orchestrator.api.models import RunIn, RunOut, RunPage
from orchestrator.api.protection import guard_environment
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.api.trigger import await_accepted_runs, read_run, trigger_on_loop
from orchestrator.api.views import accepted_run_out, run_out
from orchestrator.domain import (
    RunCancelRequested,
    StageRetryRequested,
    StageStartRequested,
    TriggerSource,
)

__all__ = ["router"]

router = APIRouter(tags=["runs"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Trigger = Annotated[TokenInfo, Depends(require(Scope.TRIGGER))]
TriggerOnLoop = Annotated[TokenInfo, Depends(require_async(Scope.TRIGGER))]
_TERMINAL = {"success", "failed", "cancelled"}
_RETRYABLE = {"failed", "cancelled"}


class Accepted(BaseModel):
    """A command accepted onto the inbox; the decider acts on it shortly."""

    run_id: str
    stage: str | None = None
    status: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": "see detail"} for code in codes}


@router.post(
    "/pipelines/{pipeline_id}/runs",
    status_code=201,
    responses=_errors(200, 202, 400, 401, 403, 404, 429),
)
async def create_run(
    pipeline_id: str, body: RunIn, response: Response, token: TriggerOnLoop, ctx: Ctx
) -> RunOut:
    """Trigger a run: 201 created, 200 the existing run of a repeat within 60 s, 400 rejected.

    Without ``branch``, the pipeline's default branch; without ``commit_sha``, that branch's
    head now. A branch the repository does not have is 400 before anything is requested.

    A coroutine, on the event loop from token to answer: under load the worker-thread hops
    and the threads waiting on Kafka cost more CPU than the request's own work (the README's
    "where a trigger's time goes"). Only what may block for long takes a worker thread:
    reading a repository's branches, a repeat's wait for the read model.
    """
    visible(token, pipeline_id)

    async def load() -> dict[str, Any] | None:
        async with ctx.db.async_connection() as conn:
            return await queries.pipeline_async(conn, pipeline_id)

    found = await ctx.pipeline_rows.read_async(pipeline_id, load)
    if found is None:
        raise not_found(f"pipeline {pipeline_id!r}")
    branch = body.branch or str(found["default_branch"])
    repo_url = str(found["repo_url"])
    if body.commit_sha and ctx.branches.remembered(repo_url, branch):
        commit_sha = body.commit_sha
    else:
        commit_sha = await run_in_threadpool(_commit, ctx, repo_url, branch, body.commit_sha)
    outcome = await trigger_on_loop(
        ctx,
        pipeline_id=pipeline_id,
        branch=branch,
        commit_sha=commit_sha,
        source=TriggerSource.API,
        requested_by=f"token:{token.name}",
        urgent=body.urgent,
        variables=body.variables,
    )
    if outcome.kind == "rejected":
        raise HTTPException(400, outcome.reason or "the run was rejected")
    response.status_code = {"created": 201, "deduplicated": 200}.get(outcome.kind, 202)
    if outcome.created is not None:
        return accepted_run_out(ctx, outcome.created)
    return await run_in_threadpool(_answer, ctx, pipeline_id, outcome.run_id)


def _commit(ctx: Context, repo_url: str, branch: str, given: str | None) -> str:
    """The commit to build: ``given`` once its branch is known to exist (remembered briefly),
    else the branch's head now; 400 when the repository has no such branch, 503 when it
    cannot be reached."""
    try:
        if given:
            ctx.branches.require(repo_url, branch)
            return given
        return ctx.branches.head(repo_url, branch)
    except BranchMissing as e:
        raise HTTPException(400, f"{e}; push it first or name another branch") from e
    except BranchUnknown as e:
        raise HTTPException(503, f"{e}; try again when the repository is reachable") from e


def _answer(ctx: Context, pipeline_id: str, run_id: str) -> RunOut:
    """The run as the read model shows it, or as requested when it does not yet."""
    with ctx.db.connection() as conn:
        row = queries.run(conn, run_id)
        stages = queries.stages_of(conn, run_id) if row else []
    if row is None:
        url = ctx.run_url(pipeline_id, run_id)
        return RunOut(run_id=run_id, pipeline_id=pipeline_id, status="requested", web_url=url)
    return run_out(ctx, row, stages)


@router.get("/pipelines/{pipeline_id}/runs/{run_id}", responses=_errors(401, 403, 404, 429))
def get_run(pipeline_id: str, run_id: str, token: Reader, ctx: Ctx) -> RunOut:
    """A run with its stages."""
    visible(token, pipeline_id)
    return _load(ctx, run_id, pipeline_id)


@router.get("/runs/{run_id}", responses=_errors(401, 403, 404, 429))
def get_run_by_id(run_id: str, token: Reader, ctx: Ctx) -> RunOut:
    """A run with its stages, by run id alone."""
    run = _load(ctx, run_id)
    visible(token, run.pipeline_id)
    return run


def _load(ctx: Context, run_id: str, pipeline_id: str | None = None) -> RunOut:
    """The run from the read model; one it does not show yet but the decider accepted is
    waited for (read-your-writes after a 201, from any API process)."""
    found = read_run(ctx, run_id, lambda: _read(ctx, run_id))
    if found is None or pipeline_id not in (None, found[0]["pipeline_id"]):
        raise not_found(f"run {run_id!r}")
    return run_out(ctx, *found)


def _read(ctx: Context, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The run, or the run a deduplicated request accepted as ``run_id`` (a 202) became."""
    with ctx.db.connection() as conn:
        row = queries.run(conn, run_id)
        if row is None and (existing := queries.aliased_run(conn, run_id)) is not None:
            run_id, row = existing, queries.run(conn, existing)
        return None if row is None else (row, queries.stages_of(conn, run_id))


@router.get("/pipelines/{pipeline_id}/runs", responses=_errors(400, 401, 403, 404, 429))
def list_runs(
    pipeline_id: str,
    *,
    token: Reader,
    ctx: Ctx,
    status: str | None = None,
    branch: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    """Runs of a pipeline, newest first, ``limit`` at a time (follow ``next_cursor``)."""
    visible(token, pipeline_id)
    after = queries.decode_cursor(cursor) if cursor else None
    await_accepted_runs(ctx)  # every run answered 201 before this list is in it
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")
        rows = queries.run_page(
            conn, pipeline_id, limit=limit + 1, status=status, branch=branch, after=after
        )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    next_cursor = queries.encode_cursor(last["created_at"], last["run_id"]) if last else None
    return RunPage(runs=[run_out(ctx, r) for r in rows], next_cursor=next_cursor)


@router.post("/runs/{run_id}/cancel", status_code=202, responses=_errors(401, 403, 404, 409, 429))
def cancel_run(run_id: str, token: Trigger, ctx: Ctx) -> Accepted:
    """Ask to cancel a run: 202 (the decider cancels its stages), 409 once it has ended."""
    run = _load(ctx, run_id)
    visible(token, run.pipeline_id)
    if run.status in _TERMINAL:
        raise HTTPException(409, f"run {run_id} has already ended ({run.status})")
    who = f"token:{token.name}"
    note = RunCancelRequested(
        run_id=run_id, occurred_at_ms=_now_ms(), requested_by=who, reason=f"cancelled by {who}"
    )
    append(ctx.producer, ctx.names.inbox, run_id, note)
    audit_action(ctx, token, "run.cancel", pipeline_id=run.pipeline_id, detail={"run_id": run_id})
    return Accepted(run_id=run_id, status="cancel requested")


@router.post(
    "/runs/{run_id}/stages/{stage}/retry",
    status_code=202,
    responses=_errors(401, 403, 404, 409, 429),
)
def retry_stage(run_id: str, stage: str, token: Trigger, ctx: Ctx) -> Accepted:
    """Retry a failed or cancelled stage: 202, 404 no such stage, 409 not failed/cancelled."""
    run = _load(ctx, run_id)
    visible(token, run.pipeline_id)
    found = next((s for s in run.stages if s.name == stage), None)
    if found is None:
        raise not_found(f"stage {stage!r} of run {run_id}")
    if found.status not in _RETRYABLE:
        raise HTTPException(409, f"stage {stage} is {found.status}; only failed or cancelled retry")
    note = StageRetryRequested(
        run_id=run_id, occurred_at_ms=_now_ms(), stage=stage, requested_by=f"token:{token.name}"
    )
    append(ctx.producer, ctx.names.inbox, run_id, note)
    detail = {"run_id": run_id, "stage": stage}
    audit_action(ctx, token, "stage.retry", pipeline_id=run.pipeline_id, detail=detail)
    return Accepted(run_id=run_id, stage=stage, status="retry requested")


@router.post(
    "/pipelines/{pipeline_id}/runs/{run_id}/stages/{stage}/play",
    status_code=202,
    responses=_errors(401, 403, 404, 409, 429),
)
def play_stage(pipeline_id: str, run_id: str, stage: str, token: Trigger, ctx: Ctx) -> Accepted:
    """Start a ``when.manual`` stage waiting for a person: 202, 404 no such stage, 409 not
    waiting, 403 a deploy to a protected environment without ``deploy:<env>``."""
    visible(token, pipeline_id)
    read = read_run(ctx, run_id, lambda: _read(ctx, run_id))
    if read is None or read[0]["pipeline_id"] != pipeline_id:
        raise not_found(f"run {run_id!r} of pipeline {pipeline_id!r}")
    found = next((s for s in read[1] if s["name"] == stage), None)
    if found is None:
        raise not_found(f"stage {stage!r} of run {run_id}")
    environment = found.get("environment")
    if environment:
        guard_environment(ctx, token, environment, "stage.play", pipeline_id)
    if found["status"] != "manual":
        raise HTTPException(409, f"stage {stage} is {found['status']}, not waiting for a person")
    who = f"token:{token.name}"
    note = StageStartRequested(
        run_id=run_id, occurred_at_ms=_now_ms(), stage=stage, requested_by=who
    )
    append(ctx.producer, ctx.names.inbox, run_id, note)
    detail = {
        "run_id": run_id,
        "stage": stage,
        **({"environment": environment} if environment else {}),
    }
    audit_action(ctx, token, "stage.play", pipeline_id=pipeline_id, detail=detail)
    return Accepted(run_id=run_id, stage=stage, status="play requested")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
