"""``decide(state, message) -> Decision``: the heart of the orchestrator.

The decider appends ``Decision.events`` to ``sluice.runs`` (the accepted message first,
then what it decided), sends ``jobs`` to the job topics and ``dead_letters`` to the dead
letters, in one transaction. Every event goes through :func:`evolve` as it is decided, so
``decision.state == fold(decision.events, state)`` holds by construction and a replay of
``sluice.runs`` reaches exactly the decider's state.

Rules worth knowing (the rest are in the docstrings below and in :mod:`fence`):

* A need is met by a success, or by a failure of an ``allow_failure`` stage. A person
  retrying such a failed need does not recall dependents that already ran on it.
* A ``when.manual`` stage waiting for a person does not keep its run open: the run ends
  when nothing is queued or running, and playing the stage later reopens it (GitLab-like).
* The run ends failed if a required stage failed, cancelled if a required stage was
  cancelled (a person's cancel, or a runner's report), else successful.
* A lease expiry re-queues at once (it already waited a whole lease); every other retry
  waits for its back-off and a ``StageRetryDue`` from the timers.
* Waiting for a runner is never a failure of the infrastructure: an unclaimed attempt ends
  only by its schedule-to-start timeout (``StageStartTimedOut``), which fails the stage
  without a retry or a dead letter (:mod:`orchestrator.domain.leases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.branches import when_excludes
from orchestrator.domain.dag import compile_dag
from orchestrator.domain.errors import InvalidTransition, PipelineInvalid
from orchestrator.domain.events import (
    RunCancelled,
    RunCancelRequested,
    RunCreated,
    RunEvent,
    RunFailed,
    RunRejected,
    RunStarted,
    RunSucceeded,
    StageCancelled,
    StageClaimed,
    StageDeadLettered,
    StageFailed,
    StageLeaseExpired,
    StageManualWaiting,
    StageQueued,
    StageRedriveRequested,
    StageRetryDue,
    StageRetryRequested,
    StageRetryScheduled,
    StageSkipped,
    StageStartRequested,
    StageStartTimedOut,
    StageSucceeded,
)
from orchestrator.domain.evolve import evolve, new_run
from orchestrator.domain.fence import fence
from orchestrator.domain.jobs import DeadLetter, Job, job_id, lease_ms_for
from orchestrator.domain.refs import ref_variables
from orchestrator.domain.retry import DeadLetterIt, RetryIt, judge_failure
from orchestrator.domain.state import RunState
from orchestrator.domain.statuses import FailureClass, RunStatus, StageStatus

__all__ = ["Decision", "decide"]

_S = StageStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """What the decider does with one inbox message.

    ``events`` is empty and ``ignored_reason`` says why when the message was fenced off.
    """

    state: RunState | None
    events: tuple[RunEvent, ...] = ()
    jobs: tuple[Job, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    ignored_reason: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the message was accepted (and is the first of ``events``)."""
        return self.ignored_reason is None


def decide(state: RunState | None, message: RunEvent) -> Decision:
    """Accept or ignore ``message`` for the run in ``state`` and decide what follows."""
    if state is None:
        return _decide_new(message)
    reason = fence(state, message)
    if reason is not None:
        return Decision(state, ignored_reason=reason)
    builder = _Builder.accepting(state, message)
    _react(builder, message)
    return builder.decision()


def _decide_new(message: RunEvent) -> Decision:
    if isinstance(message, RunRejected):
        return Decision(None, events=(message,))
    if not isinstance(message, RunCreated):
        return Decision(None, ignored_reason=f"run {message.run_id} does not exist")
    try:
        dag = compile_dag(message.stages)
    except PipelineInvalid as e:
        return Decision(None, ignored_reason=f"the run's stage snapshot is invalid: {e}")
    builder = _Builder(new_run(message, dag), message)  # what evolve(None, message) gives
    _start_run(builder)
    return builder.decision()


class _Builder:
    """Applies each decided event as it is emitted, so state and events never disagree."""

    __slots__ = ("dead_letters", "events", "jobs", "now", "state")

    def __init__(self, state: RunState, accepted: RunEvent) -> None:
        self.events: list[RunEvent] = [accepted]
        self.jobs: list[Job] = []
        self.dead_letters: list[DeadLetter] = []
        self.now = accepted.occurred_at_ms
        self.state = state

    @classmethod
    def accepting(cls, state: RunState, message: RunEvent) -> _Builder:
        """A builder whose first event is ``message``, applied to ``state``."""
        return cls(_evolve(state, message), message)

    def emit(self, event: RunEvent) -> None:
        self.state = _evolve(self.state, event)
        self.events.append(event)

    def decision(self) -> Decision:
        return Decision(
            self.state, tuple(self.events), tuple(self.jobs), tuple(self.dead_letters), None
        )


def _evolve(state: RunState, event: RunEvent) -> RunState:
    new = evolve(state, event)
    if new is None:  # only RunRejected folds to no state, and it never reaches a builder
        raise InvalidTransition(type(event).__name__, f"run {event.run_id}", "no state")
    return new


def _react(b: _Builder, message: RunEvent) -> None:
    match message:
        case StageClaimed():
            if b.state.status is RunStatus.QUEUED:
                b.emit(RunStarted(run_id=b.state.run_id, occurred_at_ms=b.now))
        case StageSucceeded():
            _advance(b)
        case StageFailed() | StageLeaseExpired():
            _after_failure(b, message.stage, immediate=isinstance(message, StageLeaseExpired))
        case StageRetryDue() | StageStartRequested():
            _dispatch(b, message.stage)
        case StageCancelled():
            _skip_dependents(b, message.stage, "was cancelled")
            _advance(b)
        case StageStartTimedOut():  # no retry and no dead letter: waiting is not a fault
            _skip_dependents(b, message.stage, "timed out waiting for a runner")
            _advance(b)
        case StageRetryRequested() | StageRedriveRequested():
            _advance(b)
        case RunCancelRequested():
            _cancel_run(b, message)
        case _:
            pass


def _start_run(b: _Builder) -> None:
    """Skip what the ``when`` rules exclude, then queue the roots."""
    for name in b.state.dag.order:
        stage = b.state.stage(name)  # b.state moves on as stages are skipped
        reason = when_excludes(stage.spec.when, b.state.branch, b.state.ref)
        if stage.status is _S.PENDING and reason is not None:
            b.emit(
                StageSkipped(run_id=b.state.run_id, occurred_at_ms=b.now, stage=name, reason=reason)
            )
            _skip_dependents(b, name, "was skipped")
    _advance(b)


def _advance(b: _Builder) -> None:
    """Queue every pending stage whose needs are met (declaration order), then maybe finish."""
    state = b.state
    met = {name for name, stage in state.stages.items() if stage.meets_needs}
    pending = [name for name, stage in state.stages.items() if stage.status is _S.PENDING]
    for name in state.dag.ready(met, pending):
        stage = state.stage(name)
        if stage.spec.when.manual and not stage.approved:
            b.emit(StageManualWaiting(run_id=state.run_id, occurred_at_ms=b.now, stage=name))
        else:
            _dispatch(b, name)
    _finish_if_settled(b)


def _dispatch(b: _Builder, name: str) -> None:
    """Queue the stage's next attempt and send its one job."""
    stage = b.state.stage(name)
    attempt = stage.dispatched + 1
    b.emit(
        StageQueued(
            run_id=b.state.run_id,
            occurred_at_ms=b.now,
            stage=name,
            attempt=attempt,
            priority=b.state.stage_priority(name),
            lease_ms=lease_ms_for(stage.spec.timeout_ms),
        )
    )
    b.jobs.append(_job(b.state, name, attempt, b.now))


def _job(state: RunState, name: str, attempt: int, enqueued_at_ms: int) -> Job:
    spec = state.stage(name).spec
    return Job(
        job_id=job_id(state.run_id, name, attempt),
        run_id=state.run_id,
        pipeline_id=state.pipeline_id,
        stage=spec,
        attempt=attempt,
        priority=state.stage_priority(name),
        repo_url=state.repo_url,
        commit_sha=state.commit_sha,
        branch=state.branch,
        variables={**state.variables, **ref_variables(state.ref, state.branch)},
        upstream_stages=state.dag.upstream[name],
        lease_ms=lease_ms_for(spec.timeout_ms),
        enqueued_at_ms=enqueued_at_ms,
    )


def _after_failure(b: _Builder, name: str, *, immediate: bool) -> None:
    """Retry, dead-letter or give up on the attempt that just failed."""
    stage = b.state.stage(name)
    verdict = judge_failure(b.state.run_id, stage)
    if isinstance(verdict, RetryIt) and immediate:
        _dispatch(b, name)  # a lease expiry already waited a whole lease: no back-off
        return
    if isinstance(verdict, RetryIt):
        b.emit(
            StageRetryScheduled(
                run_id=b.state.run_id,
                occurred_at_ms=b.now,
                stage=name,
                attempt=verdict.attempt,
                failure_class=stage.failure_class or FailureClass.DETERMINISTIC,
                backoff_ms=verdict.backoff_ms,
                retry_at_ms=b.now + verdict.backoff_ms,
            )
        )
        return
    if isinstance(verdict, DeadLetterIt):
        _dead_letter(b, name, verdict)
    _skip_dependents(b, name, "failed")
    _advance(b)


def _dead_letter(b: _Builder, name: str, verdict: DeadLetterIt) -> None:
    stage = b.state.stage(name)
    b.emit(
        StageDeadLettered(
            run_id=b.state.run_id,
            occurred_at_ms=b.now,
            stage=name,
            attempt=stage.attempt,
            reason=verdict.reason,
            infrastructure_failures=verdict.infrastructure_failures,
        )
    )
    job = _job(b.state, name, stage.attempt, stage.queued_at_ms or b.now)
    b.dead_letters.append(
        DeadLetter(
            job=job,
            reason=verdict.reason,
            infrastructure_failures=verdict.infrastructure_failures,
            occurred_at_ms=b.now,
        )
    )


def _skip_dependents(b: _Builder, name: str, what: str) -> None:
    """Skip every pending stage that (transitively) needs ``name``, when it blocks them."""
    if not b.state.stage(name).blocks_needs:
        return
    for dependent in b.state.dag.downstream[name]:
        if b.state.stage(dependent).status is _S.PENDING:
            reason = f"needs {name!r}, which {what}"
            b.emit(
                StageSkipped(
                    run_id=b.state.run_id, occurred_at_ms=b.now, stage=dependent, reason=reason
                )
            )


def _finish_if_settled(b: _Builder) -> None:
    """Once nothing is queued or running, the run ends in exactly one terminal state."""
    state = b.state
    if state.status.terminal or not state.settled:
        return
    required = [s for s in state.stages.values() if not s.spec.allow_failure]
    failed = tuple(s.name for s in required if s.status is _S.FAILED)
    cancelled = [s.name for s in required if s.status is _S.CANCELLED]
    run_id, now = state.run_id, b.now
    if failed:
        names = ", ".join(repr(n) for n in failed)
        reason = f"stage{'s' if len(failed) > 1 else ''} {names} failed"
        b.emit(RunFailed(run_id=run_id, occurred_at_ms=now, reason=reason, failed_stages=failed))
    elif cancelled:
        reason = f"stage {cancelled[0]!r} was cancelled"
        b.emit(RunCancelled(run_id=run_id, occurred_at_ms=now, reason=reason))
    else:
        b.emit(RunSucceeded(run_id=run_id, occurred_at_ms=now))


def _cancel_run(b: _Builder, message: RunCancelRequested) -> None:
    """Cancel every stage that has not ended, then the run."""
    reason = f"cancelled by {message.requested_by}" + (
        f": {message.reason}" if message.reason else ""
    )
    for stage in list(b.state.stages.values()):
        if not stage.status.terminal:
            b.emit(
                StageCancelled(
                    run_id=b.state.run_id,
                    occurred_at_ms=b.now,
                    stage=stage.name,
                    attempt=stage.attempt,
                    reason=reason,
                )
            )
    b.emit(RunCancelled(run_id=b.state.run_id, occurred_at_ms=b.now, reason=reason))
