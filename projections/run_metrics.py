"""Run and stage metrics, read off the events the decider appends to ``sluice.runs``.

The decider sees every accepted event once, in decision order, with the run's state from
just before it: that is where queue time (queued → claimed) and the duration of a failed
attempt can be computed without asking any runner. Only closed vocabularies become labels.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain import RunState
from orchestrator.domain.events import (
    RunEvent,
    StageCancelled,
    StageClaimed,
    StageFailed,
    StageRetryScheduled,
    StageSucceeded,
)
from schemas.metrics import DEAD_LETTERS, QUEUE_SECONDS, RETRIES, RUNS, STAGE_SECONDS

__all__ = ["RUN_STATUS_OF", "observe_events"]

RUN_STATUS_OF = {
    "RunCreated": "created",
    "RunStarted": "started",
    "RunSucceeded": "succeeded",
    "RunFailed": "failed",
    "RunCancelled": "cancelled",
    "RunRejected": "rejected",
}


def observe_events(before: RunState | None, events: Sequence[RunEvent]) -> None:
    """Count and time ``events``, decided for the run that was in state ``before``."""
    for event in events:
        status = RUN_STATUS_OF.get(type(event).__name__)
        if status is not None:
            RUNS.labels(status).inc()
        elif type(event).__name__ == "StageDeadLettered":
            DEAD_LETTERS.inc()
        elif isinstance(event, StageRetryScheduled):
            RETRIES.labels(str(event.failure_class)).inc()
        elif isinstance(event, StageSucceeded):
            STAGE_SECONDS.labels("succeeded").observe(event.duration_ms / 1000)
        elif before is not None:
            _observe_stage(before, event)


def _observe_stage(before: RunState, event: RunEvent) -> None:
    stage = before.stages.get(getattr(event, "stage", ""))
    if stage is None:
        return
    if isinstance(event, StageClaimed) and stage.queued_at_ms is not None:
        waited = max(0, event.occurred_at_ms - stage.queued_at_ms)
        priority = str(stage.priority or before.priority)
        QUEUE_SECONDS.labels(priority).observe(waited / 1000)
    elif isinstance(event, StageFailed | StageCancelled) and stage.started_at_ms is not None:
        outcome = "failed" if isinstance(event, StageFailed) else "cancelled"
        ran = max(0, event.occurred_at_ms - stage.started_at_ms)
        STAGE_SECONDS.labels(outcome).observe(ran / 1000)
