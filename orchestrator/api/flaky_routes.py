"""``GET /pipelines/{id}/tests/flaky``: the pipeline's flaky tests, judged by
:func:`orchestrator.domain.flaky.judge` over each test's last ``window`` runs (the per-test
outcomes folded into ``test_outcomes`` from ``sluice.tests``, each with its commit): failed
and passed on one commit, or a failure rate between ``low`` and ``high``. Most often failing
first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from orchestrator.api import queries
from orchestrator.api.auth import context, not_found, require, visible
from orchestrator.api.context import Context
from orchestrator.api.tokens import Scope, TokenInfo
from orchestrator.domain.flaky import FlakyRule, Judgement
from projections.flaky_history import judged_flaky

__all__ = ["FlakyTestOut", "router"]

router = APIRouter(tags=["tests"])
Ctx = Annotated[Context, Depends(context)]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Share = Annotated[float, Query(ge=0.0, le=1.0)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"description": "see detail"} for c in (401, 403, 404, 422, 429)
}


class FlakyTestOut(BaseModel):
    """A flaky test and why: its runs, failed runs, rate, and commits where it flipped."""

    test_name: str
    runs: int
    failed_runs: int
    failure_rate: float
    flipped_on: list[str]


@router.get("/pipelines/{pipeline_id}/tests/flaky", responses=_ERRORS)
def flaky_tests(
    pipeline_id: str,
    token: Reader,
    ctx: Ctx,
    *,
    window: Annotated[int, Query(ge=1, le=1000)] = 50,
    low: Share = 0.05,
    high: Share = 0.95,
) -> list[FlakyTestOut]:
    """The tests flaky over their last ``window`` runs (defaults 50, 5 %, 95 %)."""
    visible(token, pipeline_id)
    with ctx.db.connection() as conn:
        if queries.pipeline(conn, pipeline_id) is None:
            raise not_found(f"pipeline {pipeline_id!r}")
        found = judged_flaky(conn, pipeline_id, FlakyRule(window, low, high))
    ranked = sorted(found.items(), key=lambda kv: (-kv[1].failure_rate, kv[0]))
    return [_out(name, j) for name, j in ranked]


def _out(name: str, j: Judgement) -> FlakyTestOut:
    return FlakyTestOut(
        test_name=name,
        runs=j.runs,
        failed_runs=j.failed_runs,
        failure_rate=round(j.failure_rate, 4),
        flipped_on=list(j.flipped_on),
    )
