"""Which runs the decider keeps in its working state, and what a run that left it gets.

The decider's state is a fold of ``sluice.runs``; a finished run can only change again when
a person retries or plays one of its stages (``reopen``). Keeping every run ever seen makes
a takeover proportional to history, so a finished run leaves the working state once it has
been finished for ``Retention.reopen_ms`` of *log time* (the newest ``occurred_at_ms`` folded
on its partition, so the rule is a pure function of the log and every reader of the log
agrees on it). What stays is a :class:`FinishedRun` (id, status, end) for ``fence_ms``, so a
late report, a duplicate or a person's request gets a clear "finished, cannot reopen"
instead of "does not exist"; after that the run is forgotten and a message about it is
ignored as being about a run that does not exist. Nothing later than the windows is ever
*applied*: both answers ignore the message and say why.

A run whose manual stage still waits for a person keeps its full state for ``manual_ms``
(playing a deploy days later is normal); any other finished run can be reopened for
``reopen_ms`` after it ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.state import RunState
from orchestrator.domain.statuses import RunStatus, StageStatus

__all__ = [
    "FinishedRun",
    "Retention",
    "finished_reason",
    "forgotten",
    "leaves_working_state",
    "reopenable",
]

_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS


@dataclass(frozen=True, slots=True)
class Retention:
    """How long (in log time) finished runs stay whole, and then as a fencing record."""

    reopen_ms: int = 24 * _HOUR_MS
    manual_ms: int = 7 * _DAY_MS
    fence_ms: int = 2 * _DAY_MS


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """What is left of a finished run once it leaves the working state."""

    run_id: str
    status: RunStatus
    finished_at_ms: int


def leaves_working_state(state: RunState, clock_ms: int, retention: Retention) -> bool:
    """Whether a run is finished for longer than it may be reopened (at log time ``clock_ms``)."""
    if not state.status.terminal or state.finished_at_ms is None:
        return False
    waiting = any(s.status is StageStatus.MANUAL for s in state.stages.values())
    window = retention.manual_ms if waiting else retention.reopen_ms
    return clock_ms - state.finished_at_ms > window


def reopenable(finished: FinishedRun, clock_ms: int, retention: Retention) -> bool:
    """Whether a finished run (with no manual stage waiting) may still be reopened."""
    return clock_ms - finished.finished_at_ms <= retention.reopen_ms


def forgotten(finished: FinishedRun, clock_ms: int, retention: Retention) -> bool:
    """Whether even the fencing record of a finished run may go."""
    return clock_ms - finished.finished_at_ms > retention.fence_ms


def finished_reason(finished: FinishedRun) -> str:
    """Why a message about a run that left the working state is ignored."""
    return (
        f"run {finished.run_id} ended {finished.status.value} at {finished.finished_at_ms} and "
        "left the decider's working state: it can no longer change; start a new run"
    )
