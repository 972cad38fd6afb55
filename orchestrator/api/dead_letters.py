"""Routes of the dead letters: list, inspect, redrive (one or by filter) and discard.

Reading takes the ``read`` scope, redriving and discarding the ``trigger`` scope (they are
a person's requests on a run, like a retry); every route sees only the token's pipelines.
A redrive appends ``StageRedriveRequested`` and a discard ``DeadLetterDiscarded`` to
``sluice.inbox``; the decider accepts or fences them, and the dead-letters projection shows
the outcome. Both are audited on ``sluice.audit``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require
from orchestrator.api.context import Context
from orchestrator.api.dead_letter_queries import (
    DeadLetterFilter,
    attempts_of,
    dead_letter,
    dead_letters,
)
from orchestrator.api.publish import append
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.domain import DeadLetterDiscarded, StageRedriveRequested, parse_duration_ms

__all__ = ["router"]

router = APIRouter(tags=["dead letters"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Trigger = Annotated[TokenInfo, Depends(require(Scope.TRIGGER))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (400, 401, 403, 404, 409, 429)
}


class DeadLetterOut(BaseModel):
    """A dead-lettered stage attempt and what became of it."""

    dead_letter_id: str
    run_id: str
    stage: str
    attempt: int
    pipeline_id: str | None
    reason: str
    failure_class: str
    infrastructure_failures: int
    dead_at: datetime
    status: str
    resolved_by: str | None = None
    resolved_reason: str | None = None
    resolved_at: datetime | None = None


class AttemptOut(BaseModel):
    """One infrastructure failure that led to the dead letter."""

    attempt: int
    reason: str
    runner_id: str | None
    exit_code: int | None
    failed_at: datetime
    log_url: str


class DeadLetterDetail(DeadLetterOut):
    """A dead letter with the attempts that led to it."""

    attempts: list[AttemptOut]
    run_url: str


class DiscardIn(BaseModel):
    """Why the dead letter needs no redrive."""

    reason: str = Field(min_length=1, max_length=1000)


class RedriveFilter(BaseModel):
    """Which dead letters to redrive: every open one matching all given filters."""

    pipeline: str | None = None
    reason: str | None = Field(default=None, max_length=200)
    older_than: str | None = Field(default=None, max_length=20)


class Requested(BaseModel):
    """Requests appended to the inbox; the decider acts on them shortly."""

    dead_letter_ids: list[str]
    status: str


@router.get("/dead-letters", responses=_ERRORS)
def list_dead_letters(
    *,
    token: Reader,
    ctx: Ctx,
    pipeline: Annotated[str | None, Query(max_length=200)] = None,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    older_than: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str, Query(pattern="^(dead|redriven|discarded|all)$")] = "dead",
) -> list[DeadLetterOut]:
    """Dead letters, oldest first: ``status`` (default ``dead``), pipeline, reason, age."""
    f = _filter(token, pipeline, reason, older_than, None if status == "all" else status)
    with ctx.db.connection() as conn:
        return [DeadLetterOut(**row) for row in dead_letters(conn, f)]


@router.get("/dead-letters/{dead_letter_id}", responses=_ERRORS)
def show_dead_letter(dead_letter_id: str, token: Reader, ctx: Ctx) -> DeadLetterDetail:
    """One dead letter with its attempts, their reasons and links to their logs."""
    with ctx.db.connection() as conn:
        row = _visible(conn, token, dead_letter_id)
        attempts = attempts_of(conn, row)
    run, stage = quote(row["run_id"], safe=""), quote(row["stage"], safe="")
    log_url = f"/runs/{run}/logs?stage={stage}"
    return DeadLetterDetail(
        **row,
        run_url=f"/runs/{run}",
        attempts=[AttemptOut(**a, log_url=log_url) for a in attempts],
    )


@router.post("/dead-letters/redrive", status_code=202, responses=_ERRORS)
def redrive_many(body: RedriveFilter, token: Trigger, ctx: Ctx) -> Requested:
    """Redrive every open dead letter matching the filter (none given: every one)."""
    f = _filter(token, body.pipeline, body.reason, body.older_than, "dead")
    with ctx.db.connection() as conn:
        rows = dead_letters(conn, f)
    for row in rows:
        _redrive(ctx, token, row)
    return Requested(
        dead_letter_ids=[r["dead_letter_id"] for r in rows], status="redrive requested"
    )


@router.post("/dead-letters/{dead_letter_id}/redrive", status_code=202, responses=_ERRORS)
def redrive_one(dead_letter_id: str, token: Trigger, ctx: Ctx) -> Requested:
    """Redrive one dead letter: a fresh attempt of its stage with a fresh retry budget."""
    with ctx.db.connection() as conn:
        row = _open(_visible(conn, token, dead_letter_id))
    _redrive(ctx, token, row)
    return Requested(dead_letter_ids=[dead_letter_id], status="redrive requested")


@router.post("/dead-letters/{dead_letter_id}/discard", status_code=202, responses=_ERRORS)
def discard_one(dead_letter_id: str, body: DiscardIn, token: Trigger, ctx: Ctx) -> Requested:
    """Discard one dead letter with a reason; nothing else in its run changes."""
    with ctx.db.connection() as conn:
        row = _open(_visible(conn, token, dead_letter_id))
    note = DeadLetterDiscarded(
        run_id=row["run_id"],
        occurred_at_ms=_now_ms(),
        stage=row["stage"],
        attempt=row["attempt"],
        requested_by=f"token:{token.name}",
        reason=body.reason,
    )
    append(ctx.producer, ctx.names.inbox, row["run_id"], note)
    _audit(ctx, token, "dead_letter.discard", row, reason=body.reason)
    return Requested(dead_letter_ids=[dead_letter_id], status="discard requested")


def _redrive(ctx: Context, token: TokenInfo, row: dict[str, Any]) -> None:
    note = StageRedriveRequested(
        run_id=row["run_id"],
        occurred_at_ms=_now_ms(),
        stage=row["stage"],
        requested_by=f"token:{token.name}",
    )
    append(ctx.producer, ctx.names.inbox, row["run_id"], note)
    _audit(ctx, token, "dead_letter.redrive", row)


def _audit(ctx: Context, token: TokenInfo, action: str, row: dict[str, Any], **more: str) -> None:
    detail = {"dead_letter_id": row["dead_letter_id"], "run_id": row["run_id"], **more}
    audit_action(ctx, token, action, pipeline_id=row["pipeline_id"], detail=detail)


def _filter(
    token: TokenInfo,
    pipeline: str | None,
    reason: str | None,
    older_than: str | None,
    status: str | None,
) -> DeadLetterFilter:
    try:
        age = parse_duration_ms(older_than) if older_than else None
    except ValueError as e:
        raise HTTPException(400, f"older_than: {e}") from e
    return DeadLetterFilter(pipeline, reason, age, status, token.pipelines)


def _visible(conn: Any, token: TokenInfo, dead_letter_id: str) -> dict[str, Any]:
    row = dead_letter(conn, dead_letter_id)
    if row is None or not token.sees(row["pipeline_id"] or ""):
        raise not_found(f"dead letter {dead_letter_id!r}")
    return row


def _open(row: dict[str, Any]) -> dict[str, Any]:
    if row["status"] != "dead":
        raise HTTPException(409, f"dead letter {row['dead_letter_id']} is already {row['status']}")
    return row


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
