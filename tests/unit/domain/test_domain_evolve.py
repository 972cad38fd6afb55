"""evolve: the fold trusts nothing — an event illegal in the state raises."""

from __future__ import annotations

import pytest

from orchestrator.domain import (
    InvalidTransition,
    Priority,
    RunSucceeded,
    StageClaimed,
    StageQueued,
    StageSucceeded,
    evolve,
    fold,
)
from tests.unit.domain.domain_helpers import Driver, created, diamond, spec


def test_an_event_for_a_run_that_does_not_exist_raises() -> None:
    with pytest.raises(InvalidTransition, match="does not exist"):
        evolve(None, RunSucceeded(run_id="r", occurred_at_ms=1))


def test_an_illegal_stage_transition_raises() -> None:
    state = evolve(None, created([spec("a"), spec("b", "a")]))
    success = StageSucceeded(
        run_id="run-1", occurred_at_ms=2, stage="b", attempt=1, runner_id="w", duration_ms=1
    )
    with pytest.raises(InvalidTransition):
        evolve(state, success)


def test_dispatching_the_same_attempt_twice_raises() -> None:
    queued = StageQueued(
        run_id="run-1", occurred_at_ms=2, stage="a", attempt=1, priority=Priority.LOW, lease_ms=1
    )
    state = evolve(evolve(None, created([spec("a")])), queued)
    with pytest.raises(InvalidTransition, match="next attempt to dispatch is 2"):
        evolve(state, queued)


def test_a_claim_for_another_attempt_raises() -> None:
    run = Driver([spec("a")])
    claim = StageClaimed(
        run_id="run-1", occurred_at_ms=5, stage="a", attempt=2, runner_id="w", lease_deadline_ms=9
    )
    with pytest.raises(InvalidTransition, match="attempt 2"):
        evolve(run.state, claim)


def test_a_run_cannot_succeed_twice() -> None:
    run = Driver([spec("a")])
    run.run_stage("a")
    with pytest.raises(InvalidTransition, match="success -> success"):
        evolve(run.state, RunSucceeded(run_id="run-1", occurred_at_ms=99))


def test_replaying_the_log_gives_the_deciders_state_every_time() -> None:
    run = Driver(diamond())
    for name in ("build", "lint", "test", "package"):
        run.run_stage(name)
    assert fold(run.log) == run.state
    assert fold(run.log) == fold(list(run.log))
