"""The worker manager's scaling policy: one pure step from what the pool sees to what it does.

:func:`plan` takes the policy (:class:`~orchestrator.domain.pool_config.PoolConfig`), the
pool's memory and a snapshot (:class:`PoolInputs`: the time, each priority's queue depth and
oldest wait, each runner's phase, slots and last sign of life) and returns a
:class:`ScaleDecision` and the new memory. The rules:

* **Demand** is the busy slots of runners not draining plus the queued jobs. The period
  that holds now (the last matching one) multiplies it by its ``scale_factor`` and adds its
  floor of ``idle_slots``; that, in runners, clamped to ``[min_runners, max_runners]``, is
  the wanted size.
* **Scale up at once**, at most ``max_step`` runners per decision.
* **Scale down only after a stabilization window of lower demand**: the target is the
  largest wanted size seen in the last ``stabilization_window`` (a sliding-window maximum,
  as Kubernetes' HPA does), and only runners idle for ``idle_time`` are drained, the
  longest idle first. A scale-down therefore never comes within a window of a scale-up or
  of a moment that wanted more, so ups and downs cannot alternate faster than the window.
  A scale-up is never held back: a queued job does not wait for the anti-flap rule.
* **Unresponsive runners** (silent longer than ``heartbeat_timeout``, or still silent
  ``start_timeout`` after being started) are killed and no longer count, so the same
  decision starts their replacements.

No clock, no I/O: the time is ``inputs.now_ms``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from orchestrator.domain.pool_config import Period, PoolConfig
from orchestrator.domain.pool_schedule import active_period

__all__ = [
    "Direction",
    "PoolInputs",
    "PoolMemory",
    "QueueView",
    "RunnerPhase",
    "RunnerView",
    "ScaleDecision",
    "plan",
]


class RunnerPhase(StrEnum):
    """Where a runner process is in its life, as the pool sees it."""

    STARTING = "starting"  # spawned, not yet reporting
    READY = "ready"  # reporting, taking jobs
    DRAINING = "draining"  # takes no new job; finishes its stages, then exits


class Direction(StrEnum):
    """Which way a decision moves the pool."""

    UP = "up"
    DOWN = "down"
    HOLD = "hold"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerView:
    """One runner process of the pool."""

    runner_id: str
    phase: RunnerPhase
    slots: int
    busy: int = 0
    started_at_ms: int
    last_seen_ms: int | None = None  # its last status report; None: none yet
    idle_since_ms: int | None = None  # None: busy (or never reported)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    """One priority's job topic: jobs waiting and how long the oldest has waited."""

    priority: str
    depth: int
    oldest_wait_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolInputs:
    """Everything the policy looks at, at one instant."""

    now_ms: int
    queues: tuple[QueueView, ...] = ()
    runners: tuple[RunnerView, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolMemory:
    """What the policy remembers between steps: the window of wanted sizes.

    ``window`` holds (time, wanted runners) pairs of the last window, each larger than
    every later one (a monotone queue), so its first item is the window's maximum.
    """

    since_ms: int | None = None
    window: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleDecision:
    """What to do now, and why (a ``PoolScaleDecided`` event when it changes anything)."""

    direction: Direction
    from_runners: int
    to_runners: int
    start: int = 0
    drain: tuple[str, ...] = ()
    kill: tuple[str, ...] = ()
    reason: str
    inputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def changes_anything(self) -> bool:
        """Whether any runner is started, drained or killed."""
        return bool(self.start or self.drain or self.kill)


@dataclass(frozen=True, slots=True)
class _Demand:
    period: Period
    busy: int
    free: int
    queued: int
    wanted_slots: int
    wanted_runners: int


def plan(
    config: PoolConfig, memory: PoolMemory, inputs: PoolInputs
) -> tuple[ScaleDecision, PoolMemory]:
    """The decision for ``inputs`` under ``config``, and the memory to pass to the next step."""
    now = inputs.now_ms
    kill = tuple(r.runner_id for r in inputs.runners if _silent(config, r, now))
    live = [r for r in inputs.runners if r.runner_id not in kill]
    active = [r for r in live if r.phase is not RunnerPhase.DRAINING]
    demand = _demand(config, inputs, active)
    memory = _remember(config, memory, now, demand.wanted_runners)
    current = len(active)
    if demand.wanted_runners > current:
        decision = _up(config, current, demand, kill)
    else:
        decision = _down(config, memory, now, active=active, demand=demand, kill=kill)
    return _with_inputs(decision, config, inputs, live=live, demand=demand, memory=memory), memory


def _silent(config: PoolConfig, runner: RunnerView, now: int) -> bool:
    if runner.last_seen_ms is None:
        return now - runner.started_at_ms > config.start_timeout_ms
    return now - runner.last_seen_ms > config.heartbeat_timeout_ms


def _demand(config: PoolConfig, inputs: PoolInputs, active: list[RunnerView]) -> _Demand:
    period = active_period(config.periods, inputs.now_ms)
    busy = sum(min(r.busy, r.slots) for r in active)
    free = sum(r.slots for r in active) - busy
    queued = sum(q.depth for q in inputs.queues)
    wanted_slots = math.ceil((busy + queued) * period.scale_factor) + period.idle_slots
    runners = math.ceil(wanted_slots / config.slots_per_runner)
    wanted = min(max(runners, config.min_runners), config.max_runners)
    return _Demand(period, busy, free, queued, wanted_slots, wanted)


def _remember(config: PoolConfig, memory: PoolMemory, now: int, wanted: int) -> PoolMemory:
    """Push (now, wanted) into the window's monotone queue and drop what left the window."""
    oldest = now - config.stabilization_window_ms
    kept = [(at, n) for at, n in memory.window if at > oldest and n > wanted]
    since = now if memory.since_ms is None else memory.since_ms
    return PoolMemory(since_ms=since, window=(*kept, (now, wanted)))


def _up(config: PoolConfig, current: int, demand: _Demand, kill: tuple[str, ...]) -> ScaleDecision:
    target = min(demand.wanted_runners, current + config.max_step)
    step = f" (+{config.max_step} at most per step)" if target < demand.wanted_runners else ""
    replaced = f"; replacing {len(kill)} unresponsive runner(s)" if kill else ""
    return ScaleDecision(
        direction=Direction.UP,
        from_runners=current,
        to_runners=target,
        start=target - current,
        kill=kill,
        reason=(
            f"{_need(demand)}: {demand.wanted_runners} runner(s) wanted, {current} running"
            f"{step}{replaced}"
        ),
    )


def _need(demand: _Demand) -> str:
    p = demand.period
    return (
        f"{demand.queued} queued + {demand.busy} busy slot(s) x {p.scale_factor:g}"
        f" + floor {p.idle_slots} (period {p.name!r}) = {demand.wanted_slots} slot(s)"
    )


def _down(
    config: PoolConfig,
    memory: PoolMemory,
    now: int,
    *,
    active: list[RunnerView],
    demand: _Demand,
    kill: tuple[str, ...],
) -> ScaleDecision:
    current = len(active)
    target = memory.window[0][1]  # the largest wanted size of the window
    settled = (
        memory.since_ms is not None and now - memory.since_ms >= config.stabilization_window_ms
    )
    hold = ScaleDecision(
        direction=Direction.HOLD,
        from_runners=current,
        to_runners=current,
        kill=kill,
        reason=_hold_reason(config, current, target, settled, kill),
    )
    if target >= current or not settled:
        return hold
    idle = sorted(
        (r for r in active if _drainable(config, r, now)),
        key=lambda r: (r.idle_since_ms or 0, r.runner_id),
    )
    drain = tuple(r.runner_id for r in idle[: current - target])
    if not drain:
        return hold
    window_s = config.stabilization_window_ms / 1000
    return ScaleDecision(
        direction=Direction.DOWN,
        from_runners=current,
        to_runners=current - len(drain),
        drain=drain,
        kill=kill,
        reason=(
            f"at most {target} runner(s) wanted for {window_s:g} s ({_need(demand)});"
            f" draining {len(drain)} runner(s) idle for {config.idle_time_ms / 1000:g} s or more"
        ),
    )


def _drainable(config: PoolConfig, runner: RunnerView, now: int) -> bool:
    return (
        runner.phase is RunnerPhase.READY
        and runner.busy == 0
        and runner.idle_since_ms is not None
        and now - runner.idle_since_ms >= config.idle_time_ms
    )


def _hold_reason(
    config: PoolConfig, current: int, target: int, settled: bool, kill: tuple[str, ...]
) -> str:
    killed = f"killed {len(kill)} unresponsive runner(s); " if kill else ""
    if target >= current:
        return f"{killed}{current} runner(s) are what the last window wanted at most ({target})"
    if not settled:
        return f"{killed}the pool has run less than one stabilization window"
    return f"{killed}no runner idle for {config.idle_time_ms / 1000:g} s to drain"


def _with_inputs(
    decision: ScaleDecision,
    config: PoolConfig,
    inputs: PoolInputs,
    *,
    live: list[RunnerView],
    demand: _Demand,
    memory: PoolMemory,
) -> ScaleDecision:
    phases = {phase: sum(1 for r in live if r.phase is phase) for phase in RunnerPhase}
    seen: dict[str, str] = {
        "now_ms": str(inputs.now_ms),
        "period": demand.period.name,
        "floor_idle_slots": str(demand.period.idle_slots),
        "scale_factor": f"{demand.period.scale_factor:g}",
        "busy_slots": str(demand.busy),
        "free_slots": str(demand.free),
        "queued": str(demand.queued),
        "wanted_slots": str(demand.wanted_slots),
        "wanted_runners": str(demand.wanted_runners),
        "window_max_runners": str(memory.window[0][1]),
        "min_runners": str(config.min_runners),
        "max_runners": str(config.max_runners),
    }
    seen.update({f"runners_{phase.value}": str(n) for phase, n in phases.items()})
    for q in inputs.queues:
        seen[f"queued.{q.priority}"] = str(q.depth)
        seen[f"oldest_wait_ms.{q.priority}"] = str(q.oldest_wait_ms)
    return replace(decision, inputs=seen)
