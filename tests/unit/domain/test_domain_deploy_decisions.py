"""When a person's promote or abort of a deployment counts (the decider's fence)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.deploy_decisions import abort_problem, paused_at, promote_problem
from orchestrator.domain.events import (
    DeploymentAborted,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    RunEvent,
)
from tests.support.event_ids import DeploymentIds, StageEventIds

IDS: StageEventIds = {"run_id": "r", "stage": "deploy", "attempt": 1, "occurred_at_ms": 1}
DEP: DeploymentIds = {"deployment_id": "r/deploy/1", "environment": "prod"}
STARTED = DeploymentStarted(**IDS, **DEP, strategy="canary")


def paused(step: int) -> DeploymentPaused:
    return DeploymentPaused(**IDS, **DEP, step=step, canary_weight=20, reason="pause: manual")


def promote(step: int, who: str = "token:a") -> DeploymentPromoted:
    return DeploymentPromoted(**IDS, **DEP, step=step, requested_by=who)


ABORT = DeploymentAborted(**IDS, **DEP, requested_by="token:a")


def test_a_promote_answers_the_pause_it_names() -> None:
    assert promote_problem([STARTED, paused(3)], promote(3)) is None


def test_a_promote_of_another_step_or_of_no_pause_is_refused() -> None:
    assert "not paused at step 4" in str(promote_problem([STARTED, paused(3)], promote(4)))
    assert "not paused" in str(promote_problem([STARTED], promote(1)))


def test_a_pause_is_promoted_once() -> None:
    recorded: list[RunEvent] = [STARTED, paused(3), promote(3)]
    assert "not paused at step 3" in str(promote_problem(recorded, promote(3, "token:b")))


def test_nothing_counts_once_the_deployment_ended() -> None:
    done: list[RunEvent] = [STARTED, paused(3), DeploymentSucceeded(**IDS, **DEP)]
    assert "already ended" in str(promote_problem(done, promote(3)))
    assert "already ended" in str(abort_problem(done, ABORT))


def test_an_abort_stops_a_deployment_under_way_once() -> None:
    assert abort_problem([STARTED], ABORT) is None
    assert "already being aborted" in str(abort_problem([STARTED, ABORT], ABORT))
    assert "has not started" in str(abort_problem([], ABORT))


def test_another_deployments_events_change_nothing() -> None:
    other = DeploymentRolledBack(**IDS, deployment_id="x/deploy/1", environment="prod", reason="")
    assert promote_problem([STARTED, paused(2), other], promote(2)) is None


_EVENTS = st.sampled_from(
    [paused(1), paused(2), promote(1), promote(2), ABORT, DeploymentSucceeded(**IDS, **DEP)]
)


@given(st.lists(_EVENTS, max_size=8))
def test_a_promote_counts_exactly_when_its_pause_waits(tail: list[RunEvent]) -> None:
    recorded = [STARTED, *tail]
    waiting = paused_at(recorded, DEP["deployment_id"])
    for step in (1, 2):
        counts = promote_problem(recorded, promote(step)) is None
        assert counts == (waiting is not None and waiting.step == step)
