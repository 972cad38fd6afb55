"""Liveness rules: how long a claim lives without news, and how long a job may wait.

A claimed attempt holds a short **lease** (:data:`LEASE_MS`, 60 s) that its runner renews
with a heartbeat every :data:`HEARTBEAT_MS` (15 s). Four heartbeats per lease: three in a
row may be lost or late (a GC pause, a slow broker, a busy 2-core host) before a live runner
loses its stage, while a runner that vanished, on any host, is noticed at most one lease
after its last heartbeat — about a minute — and its stage re-queued. A stage that keeps
heartbeating is never interrupted, however long it runs, up to its own ``timeout`` plus
:data:`LEASE_SLACK_MS`: past that, heartbeats stop extending it (the old 30-minute
visibility timeout is now this upper bound, not the normal path).

Waiting for a runner is not a failure. An attempt that is queued and unclaimed has no lease;
it has a **schedule-to-start timeout** instead (the timers' setting, generous by default,
:data:`DEFAULT_START_TIMEOUT_MS`), and when that passes the stage ends with
``StageStartTimedOut``: never counted as an infrastructure failure, never dead-lettered.
"""

from __future__ import annotations

from orchestrator.domain.events import StageStartTimedOut
from orchestrator.domain.state import StageState
from orchestrator.domain.statuses import StageStatus

__all__ = [
    "DEFAULT_START_TIMEOUT_MS",
    "HEARTBEAT_MS",
    "LEASE_MS",
    "LEASE_SLACK_MS",
    "heartbeat_interval_ms",
    "lease_deadline",
    "may_extend_lease",
    "start_deadline",
    "start_timeout_problem",
    "start_timeout_reason",
]

LEASE_MS = 60_000
HEARTBEAT_MS = 15_000
LEASE_SLACK_MS = 5 * 60_000
DEFAULT_START_TIMEOUT_MS = 24 * 3_600_000  # a day, like GitHub Actions' queue limit


def heartbeat_interval_ms(lease_ms: int) -> int:
    """How often a lease of ``lease_ms`` is renewed: a quarter of it (at least every 100 ms)."""
    return max(lease_ms // 4, 100)


def lease_deadline(stage: StageState) -> int | None:
    """When the running attempt of ``stage`` is presumed lost; None if nothing holds a lease."""
    if stage.status is not StageStatus.RUNNING:
        return None
    return stage.lease_deadline_ms


def may_extend_lease(*, started_at_ms: int, now_ms: int, timeout_ms: int) -> bool:
    """Whether a heartbeat at ``now_ms`` may still extend the lease of an attempt.

    An attempt is kept alive until its own timeout plus :data:`LEASE_SLACK_MS` (the time
    to stop its container and report); a runner that outlives that is stuck, and its stage
    is re-queued when the lease it holds runs out.
    """
    return now_ms < started_at_ms + timeout_ms + LEASE_SLACK_MS


def start_deadline(stage: StageState, timeout_ms: int) -> int | None:
    """When the queued, unclaimed attempt of ``stage`` times out waiting for a runner."""
    if stage.status is not StageStatus.QUEUED or stage.waiting_for_retry:
        return None
    if stage.queued_at_ms is None:
        return None
    return stage.queued_at_ms + timeout_ms


def start_timeout_problem(stage: StageState, event: StageStartTimedOut) -> str | None:
    """Why ``event`` cannot end ``stage``: claimed meanwhile, another attempt, or too early."""
    if event.attempt != stage.attempt:
        return f"stale: attempt {event.attempt}, but stage {stage.name!r} is at {stage.attempt}"
    if stage.status is not StageStatus.QUEUED or stage.waiting_for_retry:
        return f"attempt {stage.attempt} of stage {stage.name!r} is not waiting for a runner"
    if event.queued_at_ms != stage.queued_at_ms:
        return f"the attempt was queued at {stage.queued_at_ms}, not {event.queued_at_ms}"
    deadline = event.queued_at_ms + event.timeout_ms
    if event.occurred_at_ms < deadline:
        return f"the attempt may wait for a runner until {deadline}"
    return None


def start_timeout_reason(attempt: int, timeout_ms: int) -> str:
    """What a stage whose attempt timed out waiting for a runner says (state and read model)."""
    return (
        f"no runner took attempt {attempt} within {timeout_ms / 60_000:g} min (schedule-to-start)"
    )
