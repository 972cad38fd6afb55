"""``GET /audit`` (``admin``): the audit trail, newest first, from the ``audit_trail`` read
model (a projection of ``sluice.audit``): who read or wrote which secret, whose token was
denied, who changed a pipeline or a schedule, who cancelled or retried a run."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from orchestrator.api.auth import context, require
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, TokenInfo

__all__ = ["AuditOut", "router"]

router = APIRouter(tags=["audit"])
Ctx = Annotated[Context, Depends(context)]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (400, 401, 403, 429)
}
_FILTERS = ("actor", "subject", "action")
Filter = Annotated[str | None, Query(max_length=1000, pattern=r"^[^\x00]*$")]


class AuditOut(BaseModel):
    """One audit record: names and ids, never a secret value or a token."""

    audit_id: str
    occurred_at: datetime
    actor: str
    subject: str
    action: str
    outcome: str
    pipeline_id: str | None
    detail: dict[str, str]


@router.get("/audit", responses=_ERRORS)
def audit_trail(
    token: Admin,
    ctx: Ctx,
    *,
    actor: Filter = None,
    subject: Filter = None,
    action: Filter = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The records matching every filter given (exact match; ``since`` an ISO time)."""
    wanted = dict(zip(_FILTERS, (actor, subject, action), strict=True))
    where = [f"{column} = %s" for column, value in wanted.items() if value is not None]
    params: list[object] = [value for value in wanted.values() if value is not None]
    if since is not None:
        where.append("occurred_at >= %s")
        params.append(since)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with ctx.db.connection() as conn:
        rows = conn.execute(
            "SELECT audit_id, occurred_at, actor, subject, action, outcome, pipeline_id, detail"
            f" FROM audit_trail {clause} ORDER BY occurred_at DESC, audit_id LIMIT %s",
            [*params, limit],
        ).fetchall()
    return [AuditOut(**_as_dict(r)) for r in rows]


def _as_dict(row: Any) -> dict[str, Any]:
    keys = ("audit_id", "occurred_at", "actor", "subject", "action", "outcome", "pipeline_id")
    return {**dict(zip(keys, row[:7], strict=True)), "detail": dict(row[7])}
