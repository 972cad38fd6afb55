"""Requesting a run and waiting for the trigger processor's answer (API, webhooks, cron).

The request goes to ``sluice.triggers``; the answer comes back on ``sluice.runs`` through
the process's :class:`~orchestrator.api.follower.RunsFollower`. Once it has come, we wait
until the read model has applied it, so a GET straight after never 404s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.api.context import Context
from orchestrator.api.follower import Located
from orchestrator.domain import RunCreated, RunDeduplicated, RunRejected, TriggerSource
from orchestrator.domain.refs import BRANCH_RUN, RunRef
from orchestrator.submit import InvalidRequest, request_run
from projections.projector import READ_MODEL
from projections.runner import ProjectionLagging, wait_until

__all__ = ["Outcome", "trigger"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a request: ``kind`` is created, deduplicated, rejected or pending."""

    kind: str
    run_id: str
    reason: str | None = None


def trigger(
    ctx: Context,
    *,
    pipeline_id: str,
    branch: str,
    commit_sha: str,
    source: TriggerSource,
    requested_by: str,
    urgent: bool = False,
    variables: Mapping[str, str] | None = None,
    ref: RunRef = BRANCH_RUN,
) -> Outcome:
    """Request a run; wait (bounded) for the answer and for the read model to apply it."""
    texts = [branch, *(variables or {}).keys(), *(variables or {}).values()]
    if any("\x00" in t for t in texts):
        raise InvalidRequest("branch and variables must not contain NUL characters")
    request = request_run(
        ctx.producer,
        pipeline_id=pipeline_id,
        branch=branch,
        commit_sha=commit_sha,
        requested_by=requested_by,
        source=source,
        urgent=urgent,
        variables=variables,
        prefix=ctx.names.prefix,
        ref=ref,
    )
    deadline = time.monotonic() + ctx.api.answer_timeout_s
    keys = (request.run_id, request.request_id)
    waiter = ctx.follower.expect(*keys)
    try:
        located = waiter.wait(ctx.api.answer_timeout_s)
    finally:
        ctx.follower.forget(*keys)
    if located is None:
        return Outcome("pending", request.run_id)
    _await_projection(ctx, located, deadline)
    return _outcome(located)


def _outcome(located: Located) -> Outcome:
    answer = located.answer
    if isinstance(answer, RunCreated):
        return Outcome("created", answer.run_id)
    if isinstance(answer, RunDeduplicated):
        return Outcome("deduplicated", answer.run_id)
    assert isinstance(answer, RunRejected)
    return Outcome("rejected", answer.run_id, answer.reason)


def _await_projection(ctx: Context, located: Located, deadline: float) -> None:
    if isinstance(located.answer, RunRejected):
        return
    remaining = max(0.5, deadline - time.monotonic())
    with ctx.db.connection() as conn:
        try:
            wait_until(
                conn,
                READ_MODEL.name,
                ctx.follower.topic,
                located.partition,
                located.offset,
                timeout=remaining,
            )
        except ProjectionLagging:
            return  # the run exists on the log; the GET will catch up
