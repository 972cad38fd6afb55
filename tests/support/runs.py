"""Runs made as the trigger processor makes them, for tests and benchmarks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from orchestrator.domain import Priority, RunCreated, StageSpec, TriggerSource

__all__ = ["run_created"]


def run_created(
    stages: Sequence[StageSpec],
    *,
    run_id: str | None = None,
    pipeline_id: str = "p-test",
    branch: str = "main",
    priority: Priority = Priority.NORMAL,
    occurred_at_ms: int | None = None,
) -> RunCreated:
    """A ``RunCreated`` for ``stages`` (a parsed pipeline's snapshot), timed now by default."""
    run_id = run_id or uuid.uuid4().hex
    return RunCreated(
        run_id=run_id,
        pipeline_id=pipeline_id,
        pipeline_name=pipeline_id,
        branch=branch,
        commit_sha="0" * 40,
        repo_url="file:///nowhere",
        source=TriggerSource.API,
        priority=priority,
        variables={},
        dedup_key=f"{pipeline_id}|{branch}|{run_id}",
        stages=tuple(stages),
        occurred_at_ms=time.time_ns() // 1_000_000 if occurred_at_ms is None else occurred_at_ms,
    )
