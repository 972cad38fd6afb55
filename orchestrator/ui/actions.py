"""The buttons that change things: cancel the run, retry a stage, retry every failed stage,
play a manual stage. Each is a form POST carrying the session's CSRF value, needs the
``trigger`` scope (as the API's routes do), appends the same command to the inbox as the
API, and sends the browser back to the run page."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import RedirectResponse

from orchestrator.api.auth import context
from orchestrator.api.context import Context
from orchestrator.api.protection import guard_environment
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope
from orchestrator.domain import RunCancelRequested, StageRetryRequested, StageStartRequested
from orchestrator.ui.pages import load_run
from orchestrator.ui.present import TERMINAL
from orchestrator.ui.session import Session, check_csrf, session

__all__ = ["router"]

router = APIRouter(prefix="/ui/pipelines/{pipeline_id}/runs/{run_id}", include_in_schema=False)
Ctx = Annotated[Context, Depends(context)]
Signed = Annotated[Session, Depends(session)]
Csrf = Annotated[str, Form()]  # missing: "" (then 403, like a wrong one)
_RETRYABLE = {"failed", "cancelled"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _back(pipeline_id: str, run_id: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/pipelines/{pipeline_id}/runs/{run_id}", status_code=303)


@router.post("/cancel")
def cancel(
    pipeline_id: str, run_id: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = ""
) -> RedirectResponse:
    """Ask to cancel the run (409 once it has ended)."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    run, _ = load_run(ctx, signed_in, pipeline_id, run_id)
    if run["status"] in TERMINAL:
        raise HTTPException(409, f"run {run_id} has already ended ({run['status']})")
    who = f"token:{signed_in.token.name}"
    note = RunCancelRequested(
        run_id=run_id, occurred_at_ms=_now_ms(), requested_by=who, reason=f"cancelled by {who}"
    )
    append(ctx.producer, ctx.names.inbox, run_id, note)
    return _back(pipeline_id, run_id)


@router.post("/stages/{stage}/retry")
def retry(
    pipeline_id: str, run_id: str, stage: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = ""
) -> RedirectResponse:
    """Retry one failed or cancelled stage."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    _, stages = load_run(ctx, signed_in, pipeline_id, run_id)
    found = next((s for s in stages if s["name"] == stage), None)
    if found is not None and found["status"] not in _RETRYABLE:
        raise HTTPException(
            409, f"stage {stage} is {found['status']}; only failed or cancelled retry"
        )
    _ask(ctx, signed_in, run_id, [stage] if found else [], stage)
    return _back(pipeline_id, run_id)


@router.post("/retry-failed")
def retry_failed(
    pipeline_id: str, run_id: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = ""
) -> RedirectResponse:
    """Retry every failed stage of the run."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    _, stages = load_run(ctx, signed_in, pipeline_id, run_id)
    failed = [s["name"] for s in stages if s["status"] == "failed"]
    if not failed:
        raise HTTPException(409, f"run {run_id} has no failed stage")
    _ask(ctx, signed_in, run_id, failed, None)
    return _back(pipeline_id, run_id)


def _ask(ctx: Context, signed_in: Session, run_id: str, names: list[str], one: str | None) -> None:
    if one is not None and not names:
        raise HTTPException(404, f"stage {one!r} of run {run_id} not found")
    who = f"token:{signed_in.token.name}"
    for name in names:
        note = StageRetryRequested(
            run_id=run_id, occurred_at_ms=_now_ms(), stage=name, requested_by=who
        )
        append(ctx.producer, ctx.names.inbox, run_id, note)


@router.post("/stages/{stage}/play")
def play(
    pipeline_id: str, run_id: str, stage: str, *, ctx: Ctx, signed_in: Signed, csrf: Csrf = ""
) -> RedirectResponse:
    """Start a manual stage that waits for a person."""
    check_csrf(signed_in, csrf, Scope.TRIGGER)
    _, stages = load_run(ctx, signed_in, pipeline_id, run_id)
    found = next((s for s in stages if s["name"] == stage), None)
    if found is not None and found.get("environment"):
        action = "stage.play"
        guard_environment(ctx, signed_in.token, found["environment"], action, pipeline_id)
    if found is None or found["status"] != "manual":
        raise HTTPException(409, f"stage {stage!r} is not waiting for a person")
    note = StageStartRequested(
        run_id=run_id,
        occurred_at_ms=_now_ms(),
        stage=stage,
        requested_by=f"token:{signed_in.token.name}",
    )
    append(ctx.producer, ctx.names.inbox, run_id, note)
    return _back(pipeline_id, run_id)
