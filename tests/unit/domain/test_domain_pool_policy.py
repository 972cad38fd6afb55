"""The pool's scaling policy: a pure step, checked against a simulated fleet with hypothesis.

The fleet below follows every decision (starts become ready the next second, drained
runners leave once idle) while a demand curve drives busy and queued slots, all on an
injected clock of one tick per second.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.pool_config import Period, PoolConfig
from orchestrator.domain.pool_policy import (
    Direction,
    PoolInputs,
    PoolMemory,
    QueueView,
    RunnerPhase,
    RunnerView,
    ScaleDecision,
    plan,
)

WINDOW_MS = 20_000
CONFIG = PoolConfig(
    min_runners=1,
    max_runners=12,
    slots_per_runner=2,
    idle_time_ms=3_000,
    stabilization_window_ms=WINDOW_MS,
    max_step=3,
)


@dataclass
class Fleet:
    """Runner processes that do what the policy says; ``demand`` slots want a stage."""

    config: PoolConfig
    runners: dict[str, RunnerView] = field(default_factory=dict)
    memory: PoolMemory = field(default_factory=PoolMemory)
    count: int = 0
    log: list[tuple[int, ScaleDecision]] = field(default_factory=list)

    def tick(self, now: int, demand: int) -> ScaleDecision:
        queued = self._assign(now, demand)
        inputs = PoolInputs(
            now_ms=now,
            queues=(QueueView(priority="normal", depth=queued),),
            runners=tuple(self.runners.values()),
        )
        decision, self.memory = plan(self.config, self.memory, inputs)
        self._apply(now, decision)
        self.log.append((now, decision))
        return decision

    def _assign(self, now: int, demand: int) -> int:
        """Busy slots fill the ready runners in order; the rest of the demand is queued."""
        left = demand
        for rid, r in sorted(self.runners.items()):
            if r.phase is RunnerPhase.DRAINING and r.busy == 0:
                del self.runners[rid]  # a drained runner exits
                continue
            phase = RunnerPhase.READY if r.phase is RunnerPhase.STARTING else r.phase
            busy = 0 if phase is RunnerPhase.DRAINING else min(left, r.slots)
            left -= busy
            idle_since = (r.idle_since_ms or now) if busy == 0 else None
            self.runners[rid] = replace(
                r, phase=phase, busy=busy, last_seen_ms=now, idle_since_ms=idle_since
            )
        return left

    def _apply(self, now: int, decision: ScaleDecision) -> None:
        for rid in decision.drain:
            self.runners[rid] = replace(self.runners[rid], phase=RunnerPhase.DRAINING)
        for rid in decision.kill:
            del self.runners[rid]
        for _ in range(decision.start):
            self.count += 1
            rid = f"r{self.count:04d}"
            self.runners[rid] = RunnerView(
                runner_id=rid,
                phase=RunnerPhase.STARTING,
                slots=self.config.slots_per_runner,
                started_at_ms=now,
            )


def _run(demands: list[int], config: PoolConfig = CONFIG) -> Fleet:
    fleet = Fleet(config)
    for second, demand in enumerate(demands):
        fleet.tick(second * 1000, demand)
    return fleet


def _changes(fleet: Fleet) -> list[tuple[int, Direction]]:
    """(time, new direction) each time the pool turns round."""
    moves = [(t, d.direction) for t, d in fleet.log if d.direction is not Direction.HOLD]
    return [moves[i] for i in range(1, len(moves)) if moves[i][1] is not moves[i - 1][1]]


demand_curves = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(demand_curves)
def test_the_pool_stays_within_its_bounds_and_grows_by_bounded_steps(demands: list[int]) -> None:
    for _, d in _run(demands).log:
        assert CONFIG.min_runners <= d.to_runners <= CONFIG.max_runners or d.from_runners == 0
        assert d.to_runners - d.from_runners <= CONFIG.max_step


@settings(max_examples=150, deadline=None)
@given(demand_curves)
def test_more_demand_than_capacity_scales_up_in_the_same_step(demands: list[int]) -> None:
    for _, d in _run(demands).log:
        wanted = int(d.inputs["wanted_runners"])
        if wanted > d.from_runners:
            assert d.direction is Direction.UP
            assert d.to_runners == min(wanted, d.from_runners + CONFIG.max_step)


@settings(max_examples=150, deadline=None)
@given(demand_curves)
def test_a_scale_down_comes_only_after_a_whole_window_of_lower_demand(demands: list[int]) -> None:
    fleet = _run(demands)
    for t, d in fleet.log:
        if d.direction is not Direction.DOWN:
            continue
        recent = [e for at, e in fleet.log if t - WINDOW_MS < at <= t]
        assert t >= WINDOW_MS
        assert all(e.direction is not Direction.UP for e in recent)
        assert all(int(e.inputs["wanted_runners"]) <= d.to_runners for e in recent)


@settings(max_examples=150, deadline=None)
@given(demand_curves)
def test_only_runners_idle_for_idle_time_are_drained(demands: list[int]) -> None:
    fleet = Fleet(CONFIG)
    for second, demand in enumerate(demands):
        d = fleet.tick(second * 1000, demand)
        for rid in d.drain:
            seen = fleet.runners[rid]  # as the tick saw it, but for its new phase
            assert seen.busy == 0
            assert seen.idle_since_ms is not None
            assert second * 1000 - seen.idle_since_ms >= CONFIG.idle_time_ms


@st.composite
def sawtooths(draw: st.DrawFn) -> list[int]:
    """Load that rises and falls with a period shorter than the window, then stops."""
    period = draw(st.integers(min_value=2, max_value=WINDOW_MS // 1000 - 1))
    peak = draw(st.integers(min_value=1, max_value=30))
    base = draw(st.integers(min_value=0, max_value=peak))
    teeth = draw(st.integers(min_value=1, max_value=12))
    tooth = [base + (peak - base) * i // max(period - 1, 1) for i in range(period)]
    return tooth * teeth + [0] * draw(st.integers(min_value=0, max_value=60))


@settings(max_examples=200, deadline=None)
@given(sawtooths())
def test_a_sawtooth_turns_the_pool_round_at_most_once_per_window(demands: list[int]) -> None:
    changes = _changes(_run(demands))

    for (t1, _), (t2, _) in itertools.pairwise(changes):
        assert t2 - t1 >= WINDOW_MS


def test_a_three_minute_sawtooth_at_the_default_window_changes_direction_at_most_once() -> None:
    config = replace(CONFIG, stabilization_window_ms=120_000, max_runners=20)
    tooth = list(range(0, 30, 3)) + list(range(30, 0, -3))  # 20 s up and down
    fleet = _run(tooth * 9 + [0] * 200, config)  # 3 minutes of sawtooth, then quiet

    assert [d for _, d in _changes(fleet)] == [Direction.DOWN]
    assert fleet.log[-1][1].to_runners == config.min_runners


def test_a_silent_runner_is_killed_and_replaced_in_the_same_decision() -> None:
    fleet = _run([1, 1, 1])
    rid = next(iter(fleet.runners))
    stale = replace(fleet.runners[rid], last_seen_ms=0)
    inputs = PoolInputs(now_ms=60_000, runners=(stale,))

    decision, _ = plan(CONFIG, fleet.memory, inputs)

    assert decision.kill == (rid,)
    assert (decision.direction, decision.start) == (Direction.UP, 1)
    assert "replacing 1 unresponsive" in decision.reason


def test_a_runner_that_never_reports_is_killed_after_the_start_timeout() -> None:
    starting = RunnerView(runner_id="r1", phase=RunnerPhase.STARTING, slots=1, started_at_ms=0)
    early, _ = plan(CONFIG, PoolMemory(), PoolInputs(now_ms=59_000, runners=(starting,)))
    late, _ = plan(CONFIG, PoolMemory(), PoolInputs(now_ms=61_000, runners=(starting,)))

    assert (early.kill, late.kill) == ((), ("r1",))


def test_a_draining_runner_no_longer_counts_as_capacity() -> None:
    draining = RunnerView(
        runner_id="r1",
        phase=RunnerPhase.DRAINING,
        slots=2,
        busy=1,
        started_at_ms=0,
        last_seen_ms=1_000,
    )

    decision, _ = plan(CONFIG, PoolMemory(), PoolInputs(now_ms=1_000, runners=(draining,)))

    assert (decision.from_runners, decision.to_runners) == (0, 1)


def test_the_decision_says_what_the_policy_saw() -> None:
    config = replace(CONFIG, periods=(Period(name="base", idle_slots=2, scale_factor=1.5),))
    queues = (
        QueueView(priority="critical", depth=3, oldest_wait_ms=1_200),
        QueueView(priority="low", depth=1, oldest_wait_ms=9_000),
    )

    decision, _ = plan(config, PoolMemory(), PoolInputs(now_ms=5, queues=queues))

    assert decision.inputs["queued.critical"] == "3"
    assert decision.inputs["oldest_wait_ms.low"] == "9000"
    assert decision.inputs["wanted_slots"] == "8"  # ceil(4 x 1.5) + 2
    assert "4 queued + 0 busy slot(s) x 1.5 + floor 2 (period 'base')" in decision.reason
