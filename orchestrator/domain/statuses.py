"""Closed vocabularies, and the one transition table of each state machine.

Run::

    queued ──► running ──► success | failed | cancelled
      └──────────────────► success | failed | cancelled   (nothing was ever claimed)
    success | failed | cancelled ──► running               (a person retries or plays a stage)

Stage::

    pending ──► queued ──► running ──► success | failed | cancelled
       │  └──► manual ──► queued        (a ``when.manual`` stage waits for a person)
       └──► skipped | cancelled
    queued ──► queued      a retry's back-off ended and its job goes out
    queued ──► failed      no runner claimed it within its schedule-to-start timeout
                           (older logs: the lease of a never-claimed attempt expired)
    failed ──► queued      the next attempt (automatic retry, or re-queue after a lease expiry)
    failed | cancelled | skipped ──► pending   a person retries the stage (or one it needs)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from orchestrator.domain.errors import InvalidTransition

__all__ = [
    "RUN_TRANSITIONS",
    "STAGE_TRANSITIONS",
    "FailureClass",
    "LogStream",
    "PipelineEvent",
    "Priority",
    "RunStatus",
    "StageStatus",
    "TriggerSource",
    "check_run_transition",
    "check_stage_transition",
]


class Priority(StrEnum):
    """Which job topic a stage attempt goes to."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class FailureClass(StrEnum):
    """Why an attempt failed, as the runner judged it."""

    INFRASTRUCTURE = "infrastructure"
    FLAKY = "flaky"
    DETERMINISTIC = "deterministic"


class TriggerSource(StrEnum):
    """What asked for a run."""

    API = "api"
    WEBHOOK = "webhook"
    CRON = "cron"
    RERUN = "rerun"


class PipelineEvent(StrEnum):
    """What kind of ref a run builds (``when: {event: ...}`` tests it)."""

    BRANCH = "branch"
    TAG = "tag"
    MERGE_REQUEST = "merge_request"


class LogStream(StrEnum):
    """Where a log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


class RunStatus(StrEnum):
    """Status of a run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for success, failed and cancelled."""
        return self in _RUN_TERMINAL


class StageStatus(StrEnum):
    """Status of a stage within a run."""

    PENDING = "pending"
    MANUAL = "manual"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True when nothing will happen to the stage unless a person asks."""
        return self in _STAGE_TERMINAL


_RUN_TERMINAL = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELLED})
_STAGE_TERMINAL = frozenset(
    {StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.SKIPPED, StageStatus.CANCELLED}
)

_R = RunStatus
RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    _R.QUEUED: frozenset({_R.RUNNING, _R.SUCCESS, _R.FAILED, _R.CANCELLED}),
    _R.RUNNING: frozenset({_R.SUCCESS, _R.FAILED, _R.CANCELLED}),
    _R.SUCCESS: frozenset({_R.RUNNING}),
    _R.FAILED: frozenset({_R.RUNNING}),
    _R.CANCELLED: frozenset({_R.RUNNING}),
}

_S = StageStatus
STAGE_TRANSITIONS: Mapping[StageStatus, frozenset[StageStatus]] = {
    _S.PENDING: frozenset({_S.QUEUED, _S.MANUAL, _S.SKIPPED, _S.CANCELLED}),
    _S.MANUAL: frozenset({_S.QUEUED, _S.CANCELLED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.QUEUED, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.SUCCESS, _S.FAILED, _S.CANCELLED}),
    _S.SUCCESS: frozenset(),
    _S.FAILED: frozenset({_S.QUEUED, _S.PENDING}),
    _S.SKIPPED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
}


def check_run_transition(event: str, run_id: str, current: RunStatus, target: RunStatus) -> None:
    """Raise :class:`InvalidTransition` unless the run may go from ``current`` to ``target``."""
    if target not in RUN_TRANSITIONS[current]:
        raise InvalidTransition(event, f"run {run_id}", f"{current} -> {target}")


def check_stage_transition(
    event: str, stage: str, current: StageStatus, target: StageStatus
) -> None:
    """Raise :class:`InvalidTransition` unless the stage may go from ``current`` to ``target``."""
    if target not in STAGE_TRANSITIONS[current]:
        raise InvalidTransition(event, f"stage {stage!r}", f"{current} -> {target}")
