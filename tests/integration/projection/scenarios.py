"""Hand-made, valid histories of runs on ``sluice.runs`` (each one folds with ``evolve``).

The DAG is a diamond: ``build`` -> ``unit`` and ``lint`` -> ``integration``. Times are
deterministic: each event is one second after the one before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from orchestrator.domain.events import (
    ArtifactStored,
    LogArchived,
    RunCancelled,
    RunCancelRequested,
    RunCreated,
    RunEvent,
    RunFailed,
    RunStarted,
    RunSucceeded,
    StageCancelled,
    StageClaimed,
    StageDeadLettered,
    StageFailed,
    StageLeaseExpired,
    StageManualWaiting,
    StageQueued,
    StageRetryDue,
    StageRetryRequested,
    StageRetryScheduled,
    StageSkipped,
    StageStartRequested,
    StageSucceeded,
)
from orchestrator.domain.model import StageSpec, WhenRule
from orchestrator.domain.statuses import FailureClass, Priority, TriggerSource

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DIAMOND = (
    StageSpec(name="build", script=("make build",)),
    StageSpec(name="unit", needs=("build",), script=("make test",)),
    StageSpec(name="lint", needs=("build",), script=("make lint",)),
    StageSpec(name="integration", needs=("unit", "lint"), script=("make it",)),
)


class History:
    """Builds one run's events with increasing times."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.events: list[RunEvent] = []

    def add(self, kind: Callable[..., RunEvent], **fields: object) -> History:
        at = T0 + 1000 * len(self.events)
        self.events.append(kind(run_id=self.run_id, occurred_at_ms=at, **fields))
        return self

    def created(self) -> History:
        return self.add(
            RunCreated,
            pipeline_id="backend-api",
            pipeline_name="backend-api-ci",
            branch="main",
            commit_sha="0123456789abcdef0123456789abcdef01234567",
            repo_url="file:///srv/git/backend-api.git",
            source=TriggerSource.API,
            priority=Priority.NORMAL,
            dedup_key=f"backend-api|main|{self.run_id}",
            stages=DIAMOND,
        )

    def queued(self, *stages: str, attempt: int = 1) -> History:
        for stage in stages:
            self.add(
                StageQueued, stage=stage, attempt=attempt, priority=Priority.NORMAL, lease_ms=60_000
            )
        return self

    def claimed(self, *stages: str, attempt: int = 1) -> History:
        for stage in stages:
            self.add(
                StageClaimed, stage=stage, attempt=attempt, runner_id="r1", lease_deadline_ms=T0 * 2
            )
        return self

    def succeeded(self, *stages: str, attempt: int = 1) -> History:
        for stage in stages:
            self.add(StageSucceeded, stage=stage, attempt=attempt, runner_id="r1", duration_ms=900)
        return self

    def ran(self, *stages: str) -> History:
        return self.queued(*stages).claimed(*stages).succeeded(*stages)


def diamond_success(run_id: str) -> list[RunEvent]:
    """Every stage succeeds; build keeps an artifact, integration archives its log."""
    h = History(run_id).created().queued("build").claimed("build").add(RunStarted)
    h.succeeded("build").add(
        ArtifactStored,
        stage="build",
        attempt=1,
        artifact_id=f"{run_id}-dist",
        name="dist",
        size_bytes=1234,
        sha256="ab" * 32,
        storage_path=f"artifacts/{run_id}/build/1/dist.tar",
        expires_at_ms=T0 + 30 * 86_400_000,
    )
    h.ran("unit", "lint").ran("integration")
    h.add(
        LogArchived,
        stage="integration",
        attempt=1,
        storage_path="logs/i.log",
        size_bytes=10,
        lines=2,
    )
    return h.add(RunSucceeded).events


def failing_unit(run_id: str) -> list[RunEvent]:
    """``unit`` fails for good: the run fails and ``integration`` is skipped."""
    h = History(run_id).created().queued("build").claimed("build").add(RunStarted)
    h.succeeded("build").queued("unit", "lint").claimed("unit", "lint")
    h.add(
        StageFailed,
        stage="unit",
        attempt=1,
        runner_id="r1",
        exit_code=2,
        failure_class=FailureClass.DETERMINISTIC,
        reason="exit code 2",
    )
    h.succeeded("lint").add(StageSkipped, stage="integration", reason="unit failed")
    return h.add(RunFailed, reason="unit failed", failed_stages=("unit",)).events


def cancelled(run_id: str) -> list[RunEvent]:
    """A person cancels while ``build`` runs: every stage and the run are cancelled."""
    h = History(run_id).created().queued("build").claimed("build").add(RunStarted)
    h.add(RunCancelRequested, requested_by="alice", reason="wrong branch")
    h.add(StageCancelled, stage="build", attempt=1, reason="run cancelled")
    for stage in ("unit", "lint", "integration"):
        h.add(StageCancelled, stage=stage, attempt=1, reason="run cancelled")
    return h.add(RunCancelled, reason="wrong branch").events


def flaky_then_retried_by_hand(run_id: str) -> list[RunEvent]:
    """``unit`` is retried automatically, fails for good, then a person retries it."""
    events = failing_unit(run_id)[:-3]  # up to unit's deterministic failure, before lint ends
    h = History(run_id)
    h.events = events
    h.add(
        StageRetryScheduled,
        stage="unit",
        attempt=2,
        failure_class=FailureClass.FLAKY,
        backoff_ms=2000,
        retry_at_ms=T0 + 60_000,
    )
    h.add(StageRetryDue, stage="unit", attempt=2).queued("unit", attempt=2)
    h.claimed("unit", attempt=2).add(
        StageFailed,
        stage="unit",
        attempt=2,
        runner_id="r1",
        exit_code=1,
        failure_class=FailureClass.DETERMINISTIC,
        reason="exit code 1",
    )
    h.succeeded("lint").add(StageSkipped, stage="integration", reason="unit failed")
    h.add(RunFailed, reason="unit failed", failed_stages=("unit",))
    h.add(StageRetryRequested, stage="unit", requested_by="alice")
    h.queued("unit", attempt=3).claimed("unit", attempt=3).succeeded("unit", attempt=3)
    h.ran("integration")
    return h.add(RunSucceeded).events


def dead_lettered(run_id: str) -> list[RunEvent]:
    """``build`` fails three times for infrastructure reasons (once by lease expiry)."""
    h = History(run_id).created().queued("build").claimed("build").add(RunStarted)
    h.add(StageLeaseExpired, stage="build", attempt=1, runner_id="r1")
    h.add(
        StageRetryScheduled,
        stage="build",
        attempt=2,
        failure_class=FailureClass.INFRASTRUCTURE,
        backoff_ms=2000,
        retry_at_ms=T0 + 60_000,
    )
    h.add(StageRetryDue, stage="build", attempt=2)
    for attempt in (2, 3):
        h.queued("build", attempt=attempt).claimed("build", attempt=attempt)
        h.add(
            StageFailed,
            stage="build",
            attempt=attempt,
            runner_id="r1",
            exit_code=None,
            failure_class=FailureClass.INFRASTRUCTURE,
            reason="docker daemon unreachable",
        )
    reason = "3 infrastructure failures"
    h.add(StageDeadLettered, stage="build", attempt=3, reason=reason, infrastructure_failures=3)
    for stage in ("unit", "lint", "integration"):
        h.add(StageSkipped, stage=stage, reason="build failed")
    return h.add(RunFailed, reason="build failed", failed_stages=("build",)).events


def manual_deploy(run_id: str) -> list[RunEvent]:
    """A manual ``deploy`` waits for a person after the run succeeded, who then plays it."""
    h = History(run_id)
    h.created()
    created = h.events[0]
    assert isinstance(created, RunCreated)
    deploy = StageSpec(name="deploy", needs=("integration",), when=WhenRule(manual=True))
    h.events[0] = replace(created, stages=(*DIAMOND, deploy))
    h.queued("build").claimed("build").add(RunStarted).succeeded("build")
    h.ran("unit", "lint").ran("integration").add(StageManualWaiting, stage="deploy")
    h.add(RunSucceeded).add(StageStartRequested, stage="deploy", requested_by="alice")
    return h.ran("deploy").add(RunSucceeded).events


SCENARIOS: dict[str, Callable[[str], list[RunEvent]]] = {
    "diamond_success": diamond_success,
    "failing_unit": failing_unit,
    "cancelled": cancelled,
    "flaky_then_retried_by_hand": flaky_then_retried_by_hand,
    "dead_lettered": dead_lettered,
    "manual_deploy": manual_deploy,
}


def prefixes(events: list[RunEvent]) -> Iterator[list[RunEvent]]:
    """Every prefix of a history, shortest first (the state after each event)."""
    for end in range(1, len(events) + 1):
        yield events[:end]
