"""Builders for domain tests: stage specs, runs, and a driver that speaks for the runners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from orchestrator.domain import (
    ArtifactStored,
    DeadLetterDiscarded,
    Decision,
    DeploymentStarted,
    DeploymentSucceeded,
    FailureClass,
    Priority,
    RetryPolicy,
    RunCancelRequested,
    RunCreated,
    RunEvent,
    RunState,
    StageCancelled,
    StageClaimed,
    StageFailed,
    StageHeartbeat,
    StageLeaseExpired,
    StageRedriveRequested,
    StageRetryDue,
    StageRetryRequested,
    StageSpec,
    StageStartRequested,
    StageSucceeded,
    TriggerSource,
    WhenRule,
    decide,
    fold,
)
from tests.support.event_ids import DeploymentIds, StageEventIds

LEASE = 3_600_000


def spec(
    name: str,
    *needs: str,
    allow_failure: bool = False,
    manual: bool = False,
    branches: Sequence[str] = (),
    retry: RetryPolicy | None = None,
    priority: Priority | None = None,
) -> StageSpec:
    """A stage that needs ``needs``."""
    return StageSpec(
        name=name,
        script=(f"make {name}",),
        needs=needs,
        allow_failure=allow_failure,
        when=WhenRule(branches=tuple(branches), manual=manual),
        retry=retry or RetryPolicy(),
        priority=priority,
    )


def created(
    stages: Sequence[StageSpec],
    *,
    run_id: str = "run-1",
    branch: str = "main",
    at: int = 1_000,
    priority: Priority = Priority.NORMAL,
) -> RunCreated:
    """The trigger processor's ``RunCreated`` for ``stages``."""
    return RunCreated(
        run_id=run_id,
        occurred_at_ms=at,
        pipeline_id="pipe-1",
        pipeline_name="demo",
        branch=branch,
        commit_sha="c0ffee",
        repo_url="file:///repo.git",
        source=TriggerSource.WEBHOOK,
        priority=priority,
        variables={"CI": "true"},
        dedup_key=f"pipe-1|{branch}|c0ffee",
        stages=tuple(stages),
    )


def diamond() -> list[StageSpec]:
    """build → (lint, test) → package."""
    return [
        spec("build"),
        spec("lint", "build"),
        spec("test", "build"),
        spec("package", "lint", "test"),
    ]


@dataclass
class Driver:
    """Delivers messages to ``decide`` for one run, keeping every accepted event."""

    stages: Sequence[StageSpec]
    branch: str = "main"
    run_id: str = "run-1"
    now: int = 1_000
    state: RunState | None = None
    log: list[RunEvent] = field(default_factory=list)
    last: Decision | None = None
    inbox: list[RunEvent] = field(default_factory=list)
    first: RunCreated | None = None

    def __post_init__(self) -> None:
        first = self.first or created(self.stages, run_id=self.run_id, branch=self.branch)
        self.send(replace(first, occurred_at_ms=self.now))

    @property
    def run(self) -> RunState:
        assert self.state is not None
        return self.state

    def send(self, message: RunEvent) -> Decision:
        """Decide, check the decision folds to its state, and keep it."""
        self.inbox.append(message)
        decision = decide(self.state, message)
        assert fold(decision.events, self.state) == decision.state
        self.log.extend(decision.events)
        self.state = decision.state
        self.last = decision
        return decision

    def tick(self, ms: int = 1_000) -> int:
        self.now += ms
        return self.now

    def _stage(self, stage: str, attempt: int | None) -> StageEventIds:
        current = self.run.stage(stage).attempt if attempt is None else attempt
        return {
            "run_id": self.run_id,
            "occurred_at_ms": self.tick(),
            "stage": stage,
            "attempt": current,
        }

    def claim(self, stage: str, attempt: int | None = None, runner: str = "w1") -> Decision:
        fields = self._stage(stage, attempt)
        deadline = fields["occurred_at_ms"] + LEASE
        return self.send(StageClaimed(**fields, runner_id=runner, lease_deadline_ms=deadline))

    def heartbeat(
        self, stage: str, deadline: int, attempt: int | None = None, runner: str = "w1"
    ) -> Decision:
        fields = self._stage(stage, attempt)
        return self.send(StageHeartbeat(**fields, runner_id=runner, lease_deadline_ms=deadline))

    def succeed(self, stage: str, attempt: int | None = None, runner: str = "w1") -> Decision:
        return self.send(
            StageSucceeded(**self._stage(stage, attempt), runner_id=runner, duration_ms=10)
        )

    def fail(
        self,
        stage: str,
        kind: FailureClass = FailureClass.DETERMINISTIC,
        attempt: int | None = None,
        runner: str = "w1",
    ) -> Decision:
        fields = self._stage(stage, attempt)
        return self.send(
            StageFailed(**fields, runner_id=runner, exit_code=1, failure_class=kind, reason="boom")
        )

    def deployed(self, stage: str, environment: str = "staging") -> Decision:
        """The deployer's report of a deployment that started and succeeded."""
        ids: DeploymentIds = {"deployment_id": f"{self.run_id}/{stage}", "environment": environment}
        self.send(DeploymentStarted(**self._stage(stage, None), **ids, strategy="rolling"))
        return self.send(DeploymentSucceeded(**self._stage(stage, None), **ids))

    def run_stage(self, stage: str) -> Decision:
        """Claim and succeed the stage's current attempt."""
        self.claim(stage)
        return self.succeed(stage)

    def crash(self, stage: str, kind: FailureClass = FailureClass.DETERMINISTIC) -> Decision:
        """Claim and fail the stage's current attempt."""
        self.claim(stage)
        return self.fail(stage, kind)

    def retry_due(self, stage: str, attempt: int | None = None, at: int | None = None) -> Decision:
        fields = self._stage(stage, attempt)
        if at is not None:
            fields["occurred_at_ms"] = at
        elif self.run.stage(stage).retry_at_ms is not None:
            fields["occurred_at_ms"] = max(self.now, self.run.stage(stage).retry_at_ms or 0)
        return self.send(StageRetryDue(**fields))

    def expire(self, stage: str, attempt: int | None = None, at: int | None = None) -> Decision:
        current = self.run.stage(stage)
        fields = self._stage(stage, attempt)
        late = current.lease_deadline_ms or (current.queued_at_ms or 0) + (current.lease_ms or 0)
        fields["occurred_at_ms"] = late if at is None else at
        return self.send(StageLeaseExpired(**fields, runner_id=current.runner_id))

    def runner_cancel(self, stage: str, attempt: int | None = None) -> Decision:
        return self.send(StageCancelled(**self._stage(stage, attempt), reason="runner stopped"))

    def cancel(self, who: str = "alice") -> Decision:
        return self.send(
            RunCancelRequested(
                run_id=self.run_id, occurred_at_ms=self.tick(), requested_by=who, reason="no"
            )
        )

    def retry(self, stage: str, who: str = "alice") -> Decision:
        return self.send(
            StageRetryRequested(
                run_id=self.run_id, occurred_at_ms=self.tick(), stage=stage, requested_by=who
            )
        )

    def redrive(self, stage: str, who: str = "alice") -> Decision:
        return self.send(
            StageRedriveRequested(
                run_id=self.run_id, occurred_at_ms=self.tick(), stage=stage, requested_by=who
            )
        )

    def discard(self, stage: str, who: str = "alice", attempt: int | None = None) -> Decision:
        return self.send(
            DeadLetterDiscarded(**self._stage(stage, attempt), requested_by=who, reason="known")
        )

    def dead_letter(self, stage: str) -> Decision:
        """Three infrastructure failures in a row: the third dead-letters the stage."""
        for _ in range(2):
            self.crash(stage, FailureClass.INFRASTRUCTURE)
            self.retry_due(stage)
        return self.crash(stage, FailureClass.INFRASTRUCTURE)

    def play(self, stage: str, who: str = "alice") -> Decision:
        return self.send(
            StageStartRequested(
                run_id=self.run_id, occurred_at_ms=self.tick(), stage=stage, requested_by=who
            )
        )

    def status(self, stage: str) -> str:
        return str(self.run.stage(stage).status)

    def statuses(self) -> dict[str, str]:
        return {name: str(s.status) for name, s in self.run.stages.items()}


def kinds(decision: Decision) -> list[str]:
    """The type names of a decision's events."""
    return [type(e).__name__ for e in decision.events]


def job_ids(decision: Decision) -> list[str]:
    return [job.job_id for job in decision.jobs]


def artifact_stored(run: Driver, *, artifact_id: str = "art-1") -> ArtifactStored:
    """An artifact of attempt 1 of stage ``a``, reported now."""
    return ArtifactStored(
        run_id="run-1",
        occurred_at_ms=run.tick(),
        stage="a",
        attempt=1,
        artifact_id=artifact_id,
        name="dist",
        size_bytes=3,
        sha256="00",
        storage_path="artifacts/a",
        expires_at_ms=10,
    )
