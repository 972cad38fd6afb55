"""Cron schedules per pipeline: routes to add, list and delete them, and the scheduler step
the API process runs periodically.

A due schedule is claimed with ``FOR UPDATE SKIP LOCKED`` (so with several API processes
each fires once), its next time is computed from NOW — an interval missed while every API
was down fires once, not once per missed interval — and a low-priority ``RunRequested``
(source cron) is appended for the branch's head before the claim commits. A crash between
the two repeats the request, which the trigger processor de-duplicates (same commit).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from orchestrator.api import queries
from orchestrator.api.audit import audit_action
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.branches import BranchMissing, BranchUnknown, branch_head
from orchestrator.api.context import Context
from orchestrator.api.cron import Cron
from orchestrator.api.models import CronIn, CronOut
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.domain import TriggerSource
from orchestrator.submit import request_run

__all__ = ["fire_due", "router"]

router = APIRouter(tags=["schedules"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (400, 401, 403, 404, 429)
}
_log = logging.getLogger(__name__)
_COLUMNS = "schedule_id, pipeline_id, expression, branch, next_fire_at, last_fired_at"


def _out(row: tuple[Any, ...]) -> CronOut:
    sid, pid, expression, branch, next_at, last_at = row
    return CronOut(
        schedule_id=sid,
        pipeline_id=pid,
        cron=expression,
        branch=branch,
        next_fire_at=next_at,
        last_fired_at=last_at,
    )


def _pipeline(ctx: Context, token: TokenInfo, pipeline_id: str) -> None:
    visible(token, pipeline_id)
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")


@router.post("/pipelines/{pipeline_id}/schedules", status_code=201, responses=_ERRORS)
def add_schedule(pipeline_id: str, body: CronIn, token: Admin, ctx: Ctx) -> CronOut:
    """Add a schedule (400 for an invalid cron expression)."""
    _pipeline(ctx, token, pipeline_id)
    cron = Cron.parse(body.cron)
    next_at = cron.next_after(datetime.now(UTC))
    with ctx.db.connection() as conn:
        row = conn.execute(
            "INSERT INTO cron_schedules (schedule_id, pipeline_id, expression, branch,"
            f" next_fire_at) VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (uuid.uuid4().hex[:12], pipeline_id, body.cron, body.branch, next_at),
        ).fetchone()
    assert row is not None
    detail = {"schedule_id": row[0], "cron": body.cron}
    audit_action(ctx, token, "schedule.create", pipeline_id=pipeline_id, detail=detail)
    return _out(row)


@router.get("/pipelines/{pipeline_id}/schedules", responses=_ERRORS)
def list_schedules(pipeline_id: str, token: Reader, ctx: Ctx) -> list[CronOut]:
    """The pipeline's schedules."""
    _pipeline(ctx, token, pipeline_id)
    with ctx.db.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM cron_schedules WHERE pipeline_id = %s ORDER BY created_at",
            (pipeline_id,),
        ).fetchall()
    return [_out(r) for r in rows]


@router.delete(
    "/pipelines/{pipeline_id}/schedules/{schedule_id}", status_code=204, responses=_ERRORS
)
def delete_schedule(pipeline_id: str, schedule_id: str, token: Admin, ctx: Ctx) -> Response:
    """Delete a schedule; 404 if there is none."""
    _pipeline(ctx, token, pipeline_id)
    with ctx.db.connection() as conn:
        cur = conn.execute(
            "DELETE FROM cron_schedules WHERE pipeline_id = %s AND schedule_id = %s",
            (pipeline_id, schedule_id),
        )
    if cur.rowcount != 1:
        raise not_found(f"schedule {schedule_id!r}")
    detail = {"schedule_id": schedule_id}
    audit_action(ctx, token, "schedule.delete", pipeline_id=pipeline_id, detail=detail)
    return Response(status_code=204)


def fire_due(ctx: Context, *, now: datetime | None = None) -> int:
    """Fire every due schedule once; the number fired."""
    now = now or datetime.now(UTC)
    fired = 0
    with ctx.db.connection() as conn, conn.transaction():
        due = conn.execute(
            "SELECT s.schedule_id, s.pipeline_id, s.expression, s.branch, p.repo_url"
            " FROM cron_schedules s JOIN pipelines p USING (pipeline_id)"
            " WHERE s.next_fire_at <= %s AND p.deleted_at IS NULL"
            " FOR UPDATE OF s SKIP LOCKED",
            (now,),
        ).fetchall()
        for schedule_id, pipeline_id, expression, branch, repo_url in due:
            conn.execute(
                "UPDATE cron_schedules SET next_fire_at = %s, last_fired_at = %s"
                " WHERE schedule_id = %s",
                (Cron.parse(expression).next_after(now), now, schedule_id),
            )
            fired += _request(ctx, pipeline_id, branch, repo_url, schedule_id)
    return fired


def _request(ctx: Context, pipeline_id: str, branch: str, repo_url: str, schedule_id: str) -> int:
    try:
        sha = branch_head(repo_url, branch)
    except (BranchUnknown, BranchMissing) as e:
        _log.warning("schedule %s of %s did not fire: %s", schedule_id, pipeline_id, e)
        return 0
    request_run(
        ctx.producer,
        pipeline_id=pipeline_id,
        branch=branch,
        commit_sha=sha,
        requested_by=f"cron:{schedule_id}",
        source=TriggerSource.CRON,
        prefix=ctx.names.prefix,
    )
    return 1
