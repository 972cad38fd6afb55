"""DESIGN.md's invariants 1-3 as checks on one decision, shared by the property tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from orchestrator.domain import (
    Decision,
    RunState,
    StageDeadLettered,
    StageQueued,
    StageStatus,
    StageSucceeded,
    branch_allowed,
    evolve,
)


@dataclass
class Ledger:
    """Everything dispatched and succeeded so far, across every run."""

    job_ids: set[str] = field(default_factory=set)
    successes: Counter[tuple[str, str]] = field(default_factory=Counter)

    def check(self, before: RunState | None, decision: Decision) -> None:
        """Invariants 1 and 2 on each event, and that the decision folds to its state."""
        state = before
        queued: list[tuple[str, int]] = []
        for event in decision.events:
            if isinstance(event, StageQueued):
                assert state is not None
                check_may_queue(state, event)
                queued.append((event.stage, event.attempt))
            if isinstance(event, StageSucceeded):
                self.successes[(event.run_id, event.stage)] += 1
                assert self.successes[(event.run_id, event.stage)] == 1, "a second success"
            state = evolve(state, event)
        assert state == decision.state, "the decision is not the fold of its events"
        assert [(job.stage.name, job.attempt) for job in decision.jobs] == queued
        for job in decision.jobs:
            assert job.job_id not in self.job_ids, f"{job.job_id} dispatched twice"
            self.job_ids.add(job.job_id)
        dead = [(e.stage, e.attempt) for e in decision.events if isinstance(e, StageDeadLettered)]
        assert [(d.job.stage.name, d.job.attempt) for d in decision.dead_letters] == dead


def check_may_queue(state: RunState, event: StageQueued) -> None:
    """Invariant 1: every need succeeded (or failed while allowed to), rules permitting.

    A stage's later attempts were released with its first: the one way a need can stop
    being met after that is a person retrying an ``allow_failure`` need that had failed,
    which does not recall what already ran on the strength of that failure.
    """
    stage = state.stage(event.stage)
    first_release = stage.status in (StageStatus.PENDING, StageStatus.MANUAL)
    for need in stage.spec.needs:
        met = state.stage(need).meets_needs
        retried = state.stage(need).spec.allow_failure and not state.stage(need).status.terminal
        assert met or (retried and not first_release), f"{event.stage} queued before {need}"
    assert branch_allowed(stage.spec.when, state.branch)
    assert not stage.spec.when.manual or stage.approved or stage.status is StageStatus.MANUAL


def check_run(state: RunState) -> None:
    """Invariant 3, step by step: terminal exactly when settled; nothing ready or doomed."""
    assert state.status.terminal == state.settled, (state.run_id, state.status)
    for stage in state.in_status(StageStatus.PENDING):
        needs = [state.stage(n) for n in stage.spec.needs]
        assert not any(n.blocks_needs for n in needs), f"{stage.name} should have been skipped"
        assert not all(n.meets_needs for n in needs), f"{stage.name} should have been queued"
