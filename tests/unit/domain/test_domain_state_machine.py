"""Random runs, interleaved, with duplicated, reordered, stale and conflicting messages.

After every message the checks of DESIGN.md's invariants 1-3 hold: a stage is queued only
after its needs are met; each attempt gets at most one job and a stage at most one success;
a run is terminal exactly when nothing is queued or running, so once no more input can
arrive every run has ended (the teardown drives each to the end to prove it). And the log
always replays — twice, from nothing — to the decider's state, and the read model's rows
folded from the log (``projections.read_model``, pure) are the rows the state determines.
Each runner, knowing only its notices and the outcomes it reported itself, holds exactly
the attempts the state says it runs, and hears an answer to every claim it sends.
"""

from __future__ import annotations

from operator import attrgetter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orchestrator.domain import (
    DeadLetterDiscarded,
    Decision,
    FailureClass,
    RunCancelRequested,
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
    StageRetryScheduled,
    StageSpec,
    StageStartRequested,
    StageStartTimedOut,
    StageStatus,
    StageSucceeded,
    decide,
    fold,
)
from orchestrator.domain.retention import Retention
from orchestrator.domain.runner_notices import claim_refused, runner_notices
from orchestrator.wire import encode_event
from projections.read_model import FOLDED_STAGE_COLUMNS, ReadModel, StageRow, apply, rows_of
from projections.working_state import PartitionState, restore
from tests.support.event_ids import AttemptIds, StageEventIds, StageNoteIds
from tests.unit.domain.domain_helpers import created
from tests.unit.domain.domain_invariants import Ledger, check_run
from tests.unit.domain.domain_strategies import pipelines

BRANCHES = ["main", "feature/login", "release/2.0"]
CLASSES = list(FailureClass)
MAX_RUNS = 4
# the machine's decide never fences finished runs, so no run may leave the working state
KEEP_ALL = Retention(reopen_ms=2**62, manual_ms=2**62, fence_ms=2**62)


class Orchestration(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, RunState] = {}
        self.logs: dict[str, list[RunEvent]] = {}
        self.outbox: list[RunEvent] = []
        self.appended: list[RunEvent] = []  # sluice.runs, in order, every run on one partition
        self.dispatched: list[tuple[str, str, int]] = []
        self.ledger = Ledger()
        self.read_model = ReadModel()  # folded from the log as it grows, as the projection does
        self.held: dict[str, set[tuple[str, str, int]]] = {}  # by runner, from its notices
        self.now = 1_000_000

    # -- delivering ---------------------------------------------------------------------

    def send(self, message: RunEvent) -> Decision:
        before = self.states.get(message.run_id)
        decision = decide(before, message)
        self._check_claim_answered(before, message, decision)
        if decision.ignored_reason is not None:
            assert decision.events == () and decision.jobs == () and decision.state is before
            return decision
        assert decision.events[0] is message
        self.ledger.check(before, decision)
        self._tell_runners(before, decision.events)
        if decision.state is not None:
            self.states[message.run_id] = decision.state
            self.logs.setdefault(message.run_id, []).extend(decision.events)
            self.appended.extend(decision.events)
            for event in decision.events:
                apply(self.read_model, event)
        self._follow_up(decision)
        return decision

    @staticmethod
    def _check_claim_answered(
        before: RunState | None, message: RunEvent, decision: Decision
    ) -> None:
        """A claim is answered to its runner exactly once: accepted, or refused with why."""
        refusal = claim_refused(message, decision.ignored_reason)
        if not isinstance(message, StageClaimed):
            assert refusal is None
            return
        accepted = [
            runner
            for runner, i in runner_notices(before, decision.events)
            if decision.events[i] is message
        ]
        refused = [] if refusal is None else [refusal.runner_id]
        assert accepted + refused == [message.runner_id], (accepted, refused)
        if refusal is not None:
            assert refusal.reason == decision.ignored_reason
            assert (refusal.run_id, refusal.stage, refusal.attempt) == (
                message.run_id,
                message.stage,
                message.attempt,
            )

    def _tell_runners(self, before: RunState | None, events: tuple[RunEvent, ...]) -> None:
        """What each runner knows: the notices addressed to it, and its own outcomes."""
        for event in events:
            if isinstance(event, StageSucceeded | StageFailed):
                key = (event.run_id, event.stage, event.attempt)
                self.held.get(event.runner_id, set()).discard(key)
        for runner, index in runner_notices(before, events):
            event = events[index]
            held = self.held.setdefault(runner, set())
            key = (event.run_id, getattr(event, "stage", ""), getattr(event, "attempt", 0))
            if isinstance(event, StageClaimed):
                held.add(key)
            else:
                assert isinstance(event, StageCancelled | StageLeaseExpired), event
                held.discard(key)

    def _follow_up(self, decision: Decision) -> None:
        """What runners and timers would send next, put in the outbox in no fixed order."""
        for job in decision.jobs:
            self.dispatched.append((job.run_id, job.stage.name, job.attempt))
            for runner in ("w-a", "w-b"):
                self.outbox.append(self._claim(job.run_id, job.stage.name, job.attempt, runner))
        for event in decision.events:
            if isinstance(event, StageClaimed):
                self.outbox.extend(self._outcomes(event))
            elif isinstance(event, StageRetryScheduled):
                self.outbox.append(
                    StageRetryDue(
                        run_id=event.run_id,
                        occurred_at_ms=event.retry_at_ms,
                        stage=event.stage,
                        attempt=event.attempt,
                    )
                )

    def _claim(self, run_id: str, stage: str, attempt: int, runner: str) -> StageClaimed:
        return StageClaimed(
            run_id=run_id,
            occurred_at_ms=self.now,
            stage=stage,
            attempt=attempt,
            runner_id=runner,
            lease_deadline_ms=self.now + 1_800_000,
        )

    def _outcomes(self, claim: StageClaimed) -> list[RunEvent]:
        ids: AttemptIds = {"run_id": claim.run_id, "stage": claim.stage, "attempt": claim.attempt}
        at = claim.occurred_at_ms + 1
        outcomes: list[RunEvent] = [
            StageSucceeded(**ids, occurred_at_ms=at, runner_id=claim.runner_id, duration_ms=1),
            StageHeartbeat(
                **ids, occurred_at_ms=at, runner_id=claim.runner_id, lease_deadline_ms=at + 2**31
            ),
            StageCancelled(**ids, occurred_at_ms=at, reason="runner stopped"),
        ]
        for kind in CLASSES:
            outcomes.append(
                StageFailed(
                    **ids,
                    occurred_at_ms=at,
                    runner_id=claim.runner_id,
                    exit_code=1,
                    failure_class=kind,
                    reason="boom",
                )
            )
        return outcomes

    # -- rules ----------------------------------------------------------------------------

    @initialize(stages=pipelines(max_stages=12), branch=st.sampled_from(BRANCHES))
    def first_run(self, stages: list[StageSpec], branch: str) -> None:
        self.create_run(stages, branch)

    @precondition(lambda self: len(self.states) < MAX_RUNS)
    @rule(
        stages=st.one_of(pipelines(max_stages=8), pipelines(max_stages=30)),
        branch=st.sampled_from(BRANCHES),
    )
    def create_run(self, stages: list[StageSpec], branch: str) -> None:
        message = created(stages, run_id=f"run-{len(self.states)}", branch=branch, at=self.now)
        self.send(message)
        assert self.send(message).ignored_reason is not None  # a duplicate RunCreated

    @precondition(lambda self: bool(self.outbox))
    @rule(data=st.data(), count=st.integers(1, 6))
    def deliver(self, data: st.DataObject, count: int) -> None:
        """Pending messages in any order; sometimes one stays to arrive again."""
        for _ in range(min(count, len(self.outbox))):
            index = data.draw(st.integers(0, len(self.outbox) - 1))
            keep = data.draw(st.integers(0, 3)) == 0
            message = self.outbox[index] if keep else self.outbox.pop(index)
            self.now += data.draw(st.integers(0, 60_000))
            self.send(message)

    @precondition(lambda self: bool(self.dispatched))
    @rule(data=st.data())
    def stale_outcome(self, data: st.DataObject) -> None:
        """An outcome from an attempt that is no longer current is always fenced off."""
        run_id, stage, attempt = data.draw(st.sampled_from(self.dispatched))
        current = self.states[run_id].stage(stage)
        if attempt >= current.attempt:
            return
        ids: StageEventIds = {
            "run_id": run_id,
            "stage": stage,
            "attempt": attempt,
            "occurred_at_ms": self.now,
        }
        outcomes: list[RunEvent] = [
            StageSucceeded(**ids, runner_id="w-a", duration_ms=1),
            StageFailed(**ids, runner_id="w-a", failure_class=FailureClass.FLAKY, reason="x"),
            StageClaimed(**ids, runner_id="w-z", lease_deadline_ms=self.now + 1),
            StageLeaseExpired(**ids, runner_id=None),
        ]
        late = data.draw(st.sampled_from(outcomes))
        assert self.send(late).events == ()

    @precondition(lambda self: bool(self.states))
    @rule(data=st.data(), early=st.booleans())
    def expire_lease(self, data: st.DataObject, early: bool) -> None:
        """The timer fires for a live attempt — at its deadline, or (wrongly) before it."""
        live = [
            (run_id, stage)
            for run_id, state in self.states.items()
            for stage in state.stages.values()
            if stage.live and not stage.waiting_for_retry
        ]
        if not live:
            return
        run_id, stage = data.draw(st.sampled_from(live))
        deadline = stage.lease_deadline_ms or (stage.queued_at_ms or 0) + (stage.lease_ms or 0)
        decision = self.send(
            StageLeaseExpired(
                run_id=run_id,
                occurred_at_ms=deadline - 1 if early else deadline,
                stage=stage.name,
                attempt=stage.attempt,
                runner_id=stage.runner_id,
            )
        )
        assert decision.accepted is not early

    @precondition(lambda self: bool(self.states))
    @rule(data=st.data(), early=st.booleans(), timeout=st.integers(1, 10**8))
    def start_times_out(self, data: st.DataObject, early: bool, timeout: int) -> None:
        """Nobody claims a queued attempt in time: it fails, never as an infrastructure
        failure, never dead-lettered — or the timer fires early and is fenced off."""
        waiting = [
            (run_id, stage)
            for run_id, state in self.states.items()
            for stage in state.stages.values()
            if stage.status is StageStatus.QUEUED and not stage.waiting_for_retry
        ]
        if not waiting:
            return
        run_id, stage = data.draw(st.sampled_from(waiting))
        queued = stage.queued_at_ms or 0
        decision = self.send(
            StageStartTimedOut(
                run_id=run_id,
                occurred_at_ms=queued + timeout - (1 if early else 0),
                stage=stage.name,
                attempt=stage.attempt,
                queued_at_ms=queued,
                timeout_ms=timeout,
            )
        )
        assert decision.accepted is not early
        after = self.states[run_id].stage(stage.name)
        assert after.infrastructure_failures == stage.infrastructure_failures
        assert not decision.dead_letters
        assert all(job.stage.name != stage.name for job in decision.jobs)  # no retry

    @precondition(lambda self: bool(self.states))
    @rule(data=st.data(), now=st.integers(0, 4))
    def cancel(self, data: st.DataObject, now: int) -> None:
        """Now and then a person cancels a run (finished or not)."""
        if now:
            return
        run_id = data.draw(st.sampled_from(sorted(self.states)))
        was_finished = self.states[run_id].status.terminal
        message = RunCancelRequested(
            run_id=run_id, occurred_at_ms=self.now, requested_by="alice", reason="stop"
        )
        assert self.send(message).accepted is not was_finished

    @precondition(lambda self: bool(self.states))
    @rule(data=st.data(), aimed=st.booleans())
    def person_retries_or_plays(self, data: st.DataObject, aimed: bool) -> None:
        """Retry a failed/cancelled stage or play a manual one — or ask at random."""
        run_id = data.draw(st.sampled_from(sorted(self.states)))
        state = self.states[run_id]
        wanted = (StageStatus.FAILED, StageStatus.CANCELLED, StageStatus.MANUAL)
        candidates = [s.name for s in state.in_status(*wanted)] if aimed else []
        stage = data.draw(st.sampled_from(candidates or list(state.stages)))
        manual = state.stage(stage).status is StageStatus.MANUAL
        kind = StageStartRequested if manual else StageRetryRequested
        self.send(kind(run_id=run_id, occurred_at_ms=self.now, stage=stage, requested_by="bob"))

    @precondition(lambda self: bool(self.states))
    @rule(data=st.data(), aimed=st.booleans(), redrive=st.booleans())
    def person_redrives_or_discards(self, data: st.DataObject, aimed: bool, redrive: bool) -> None:
        """Redrive or discard a dead letter — or ask about a stage that has none."""
        run_id = data.draw(st.sampled_from(sorted(self.states)))
        state = self.states[run_id]
        dead = [s.name for s in state.stages.values() if s.dead_lettered] if aimed else []
        stage = state.stage(data.draw(st.sampled_from(dead or list(state.stages))))
        note: StageNoteIds = {"run_id": run_id, "occurred_at_ms": self.now, "stage": stage.name}
        if redrive:
            decision = self.send(StageRedriveRequested(**note, requested_by="carol"))
        else:
            message = DeadLetterDiscarded(
                **note, attempt=stage.attempt, requested_by="carol", reason="known outage"
            )
            decision = self.send(message)
        if not stage.dead_lettered:
            assert not decision.accepted
        elif decision.state is not None and decision.accepted:
            after = decision.state.stage(stage.name)
            assert not after.dead_lettered
            if redrive:  # a fresh attempt with a fresh retry budget
                assert after.infrastructure_failures == 0 and after.policy_retries == 0
            else:  # a discard changes nothing else
                assert after.status is StageStatus.FAILED and decision.jobs == ()
                assert decision.state.status is state.status

    @precondition(lambda self: bool(self.logs))
    @rule(data=st.data())
    def replay_an_accepted_event(self, data: st.DataObject) -> None:
        """A message that was accepted once arrives again (at-least-once delivery)."""
        run_id = data.draw(st.sampled_from(sorted(self.logs)))
        event = data.draw(st.sampled_from(self.logs[run_id]))
        decision = self.send(event)
        if not isinstance(event, StageRetryRequested | StageStartRequested):
            assert not isinstance(event, StageSucceeded) or decision.events == ()

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def every_run_is_terminal_exactly_when_nothing_is_queued_or_running(self) -> None:
        for state in self.states.values():
            check_run(state)

    @invariant()
    def each_runner_holds_from_its_notices_exactly_the_attempts_it_runs(self) -> None:
        running: dict[str, set[tuple[str, str, int]]] = {}
        for state in self.states.values():
            for stage in state.in_status(StageStatus.RUNNING):
                assert stage.runner_id is not None
                key = (state.run_id, stage.name, stage.attempt)
                running.setdefault(stage.runner_id, set()).add(key)
        for runner in running.keys() | self.held.keys():
            assert self.held.get(runner, set()) == running.get(runner, set()), runner

    @invariant()
    def the_log_replays_to_the_deciders_state(self) -> None:
        for run_id, state in self.states.items():
            assert fold(self.logs[run_id]) == state == fold(list(self.logs[run_id]))

    @invariant()
    def a_checkpoint_and_its_tail_fold_to_the_full_fold(self) -> None:
        half = len(self.appended) // 2
        early = _partition(self.appended[:half])
        resumed = restore(0, early.take_checkpoint(), KEEP_ALL)
        for offset, event in enumerate(self.appended[half:], start=half):
            resumed.fold(encode_event(event), offset)

        assert resumed.view() == _partition(self.appended).view() == self.states
        assert resumed.runs_offset == len(self.appended)

    @invariant()
    def the_read_model_folded_from_the_log_has_the_rows_the_state_determines(self) -> None:
        model = self.read_model
        for run_id, state in self.states.items():
            run, stages, artifacts = rows_of(state)
            assert model.runs[run_id] == run
            assert _folded(model.stages[run_id]) == _folded(stages)
            assert {a.artifact_id: a for a in model.artifacts.values() if a.run_id == run_id} == (
                artifacts
            )

    def teardown(self) -> None:
        for run_id in list(self.states):
            self._drive_to_the_end(run_id)
            state = self.states[run_id]
            assert state.status.terminal and state.settled
            assert fold(self.logs[run_id]) == state
            assert fold(self.logs[run_id]) == fold(list(self.logs[run_id]))

    def _drive_to_the_end(self, run_id: str) -> None:
        """No more outside input: runners finish everything that is live."""
        for _ in range(20_000):
            state = self.states[run_id]
            live = next((s for s in state.stages.values() if s.live), None)
            if live is None:
                return
            self.now += 1
            if live.waiting_for_retry:
                at = max(self.now, live.retry_at_ms or 0)
                self.send(
                    StageRetryDue(
                        run_id=run_id, occurred_at_ms=at, stage=live.name, attempt=live.attempt
                    )
                )
            elif live.status is StageStatus.QUEUED:
                self.send(self._claim(run_id, live.name, live.attempt, "w-final"))
            else:
                runner = live.runner_id or "w-final"
                self.send(
                    StageSucceeded(
                        run_id=run_id,
                        occurred_at_ms=self.now,
                        stage=live.name,
                        attempt=live.attempt,
                        runner_id=runner,
                        duration_ms=1,
                    )
                )
        raise AssertionError(f"run {run_id} never finished")


def _partition(events: list[RunEvent]) -> PartitionState:
    part = PartitionState(0, KEEP_ALL)
    for offset, event in enumerate(events):
        part.fold(encode_event(event), offset)
    return part


def _folded(stages: dict[str, StageRow]) -> dict[str, tuple[object, ...]]:
    return {name: attrgetter(*FOLDED_STAGE_COLUMNS)(row) for name, row in stages.items()}


Orchestration.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_orchestration_keeps_its_invariants = Orchestration.TestCase
