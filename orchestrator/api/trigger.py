"""Requesting a run and waiting for the trigger processor's answer (API, webhooks, cron).

The request goes to ``sluice.triggers``; the answer comes back on ``sluice.runs`` through
the process's :class:`~orchestrator.api.follower.RunsFollower`. A new run is answered as
soon as the decider accepted it (its ``RunCreated`` is on ``sluice.runs``): the request does
not wait for the read model. Read-your-writes moves to the read instead: a GET that does
not find a run asks :func:`await_accepted_run`, which waits for the projection only when the
log holds the run (docs/trigger-path.md). A repeat (``RunDeduplicated``) still waits for
the read model, since its answer is read from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar, Unpack

from fastapi.concurrency import run_in_threadpool

from orchestrator.api.context import Context
from orchestrator.api.follower import Located
from orchestrator.domain import RunCreated, RunDeduplicated, RunRejected
from orchestrator.submit import InvalidRequest, RunAsk, request_run, run_request
from orchestrator.wire import encode_record
from projections.projector import READ_MODEL
from projections.runner import ProjectionLagging, wait_until, wait_until_all

__all__ = [
    "Outcome",
    "await_accepted_run",
    "await_accepted_runs",
    "read_run",
    "trigger",
    "trigger_on_loop",
]

_T = TypeVar("_T")
_FOLLOW_S = 2.0  # at most this long to follow a run's partition to its end on a GET miss


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a request: ``kind`` is created, deduplicated, rejected or pending."""

    kind: str
    run_id: str
    reason: str | None = None
    created: RunCreated | None = None  # what the decider accepted, for a new run


def trigger(ctx: Context, **ask: Unpack[RunAsk]) -> Outcome:
    """Request a run; wait (bounded) for the answer and for the read model to apply it."""
    request = request_run(ctx.producer, prefix=ctx.names.prefix, **_checked(ask))
    deadline = time.monotonic() + ctx.api.answer_timeout_s
    keys = (request.run_id, request.request_id)
    waiter = ctx.follower.expect(*keys)
    try:
        located = waiter.wait(ctx.api.answer_timeout_s)
    finally:
        ctx.follower.forget(*keys)
    if located is None:
        return Outcome("pending", request.run_id)
    if isinstance(located.answer, RunDeduplicated):
        _await_projection(ctx, located, deadline)
    return _outcome(located)


async def trigger_on_loop(ctx: Context, **ask: Unpack[RunAsk]) -> Outcome:
    """:func:`trigger` for a coroutine: no worker thread waits for Kafka's acknowledgement
    or the answer (the append is aiokafka's, on the loop: :class:`~schemas.delivery.LoopAppender`;
    the follower hands the answer back to the loop); only a repeat's wait for the read
    model takes one."""
    key, request = run_request(**_checked(ask))
    deadline = time.monotonic() + ctx.api.answer_timeout_s
    keys = (request.run_id, request.request_id)
    waiter = ctx.follower.expect_on_loop(*keys)
    try:
        await ctx.appender.append(ctx.names.triggers, key, encode_record(request))
        located = await waiter.wait(max(0.0, deadline - time.monotonic()))
    finally:
        ctx.follower.forget(*keys)
    if located is None:
        return Outcome("pending", request.run_id)
    if isinstance(located.answer, RunDeduplicated):
        await run_in_threadpool(_await_projection, ctx, located, deadline)
    return _outcome(located)


def _checked(ask: RunAsk) -> RunAsk:
    variables = ask.get("variables") or {}
    texts = [ask["branch"], *variables.keys(), *variables.values()]
    if any("\x00" in t for t in texts):
        raise InvalidRequest("branch and variables must not contain NUL characters")
    return ask


def await_accepted_run(ctx: Context, run_id: str) -> bool:
    """Read-your-writes for a run the read model does not show yet: whether the decider
    accepted ``run_id``; if it did, return once the read model has applied its acceptance
    (bounded by the answer timeout; :class:`ProjectionLagging` past it)."""
    timeout = ctx.api.answer_timeout_s
    deadline = time.monotonic() + timeout
    located = ctx.follower.created(run_id, timeout=min(timeout, _FOLLOW_S))
    if located is None:
        return False
    _await_read_model(ctx, {located.partition: located.offset}, deadline)
    return True


def _await_read_model(ctx: Context, offsets: Mapping[int, int], deadline: float) -> None:
    """Wait until the read model applied ``offsets`` of ``sluice.runs``, holding a pooled
    connection only while asking (many readers may wait at once: 50 log streams opened
    right after a 201 must not take every connection of the pool)."""
    pause = 0.002
    while True:
        with ctx.db.connection() as conn:
            try:
                wait_until_all(conn, READ_MODEL.name, ctx.follower.topic, offsets, timeout=0)
                return
            except ProjectionLagging:
                if time.monotonic() >= deadline:
                    raise
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def read_run(ctx: Context, run_id: str, read: Callable[[], _T | None]) -> _T | None:
    """``read()`` of run ``run_id`` from the read model, and once more after waiting for the
    projection when it found nothing but the decider accepted the run: every read of a run
    by id shows it right after its 201 (:class:`ProjectionLagging`, a 503, past the wait)."""
    found = read()
    if found is None and await_accepted_run(ctx, run_id):
        found = read()
    return found


def await_accepted_runs(ctx: Context) -> None:
    """Read-your-writes for lists: return once the read model has applied every run this
    API process has seen accepted (at once when it has; :class:`ProjectionLagging` after
    the answer timeout)."""
    _await_read_model(ctx, ctx.follower.accepted(), time.monotonic() + ctx.api.answer_timeout_s)


def _outcome(located: Located) -> Outcome:
    answer = located.answer
    if isinstance(answer, RunCreated):
        return Outcome("created", answer.run_id, created=answer)
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
