"""Random DAGs of up to 200 stages, run to the end with random outcomes in random order."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.domain import (
    FailureClass,
    RunEvent,
    RunState,
    StageClaimed,
    StageFailed,
    StageLeaseExpired,
    StageRetryDue,
    StageSpec,
    StageState,
    StageStatus,
    StageSucceeded,
    decide,
    fold,
)
from tests.support.event_ids import AttemptIds
from tests.unit.domain.domain_helpers import created
from tests.unit.domain.domain_invariants import Ledger, check_run
from tests.unit.domain.domain_strategies import pipelines

OUTCOMES = ["success"] * 4 + [*FailureClass, "lease"]


class Run:
    def __init__(self) -> None:
        self.state: RunState | None = None
        self.log: list[RunEvent] = []
        self.ledger = Ledger()
        self.now = 10_000

    def send(self, message: RunEvent) -> None:
        decision = decide(self.state, message)
        self.ledger.check(self.state, decision)
        self.log.extend(decision.events)
        self.state = decision.state
        assert self.state is not None
        check_run(self.state)

    def step(self, stage: StageState, outcome: object) -> None:
        self.now += 1_000
        ids: AttemptIds = {"run_id": "run-1", "stage": stage.name, "attempt": stage.attempt}
        if stage.waiting_for_retry:
            at = max(self.now, stage.retry_at_ms or 0)
            self.send(StageRetryDue(**ids, occurred_at_ms=at))
        elif stage.status is StageStatus.QUEUED:
            deadline = self.now + 1_800_000
            self.send(
                StageClaimed(
                    **ids, occurred_at_ms=self.now, runner_id="w", lease_deadline_ms=deadline
                )
            )
        elif outcome == "success":
            self.send(StageSucceeded(**ids, occurred_at_ms=self.now, runner_id="w", duration_ms=1))
        elif outcome == "lease":
            at = stage.lease_deadline_ms or self.now
            self.send(StageLeaseExpired(**ids, occurred_at_ms=at, runner_id="w"))
        else:
            kind = FailureClass(str(outcome))
            self.send(
                StageFailed(
                    **ids, occurred_at_ms=self.now, runner_id="w", failure_class=kind, reason="x"
                )
            )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pipelines(max_stages=200), st.sampled_from(["main", "feature/x", "release/1"]), st.data())
def test_a_random_dag_of_up_to_200_stages_ends_in_exactly_one_terminal_state(
    stages: list[StageSpec],
    branch: str,
    data: st.DataObject,
) -> None:
    run = Run()
    run.send(created(stages, branch=branch))
    for _ in range(20 * len(stages) + 10):
        assert run.state is not None
        live = [s for s in run.state.stages.values() if s.live]
        if not live:
            break
        run.step(data.draw(st.sampled_from(live)), data.draw(st.sampled_from(OUTCOMES)))
    assert run.state is not None and run.state.status.terminal and run.state.settled
    assert fold(run.log) == run.state == fold(list(run.log))
