"""The rolling deployment planner: pure decisions over an environment's instances.

The deployer (``runners/deployer``) holds a :class:`Rollout`, asks :func:`plan` what to do
next, carries the steps out on Docker and HAProxy, and folds what it saw back in with
:func:`observe`. Time enters only as ``now_ms`` arguments. The rules:

* never fewer than ``replicas - max_unavailable`` healthy instances in traffic, never more
  than ``replicas + max_surge`` instances alive;
* an old instance is drained (no new requests; stopped once its last one is answered) only
  when the instances left in traffic still hold that capacity;
* a new instance that is unhealthy, or not healthy by ``healthy_deadline``, rolls the
  deployment back: old-image instances are started until the old revision holds the whole
  capacity again, then every new instance is drained and stopped;
* a rollback never rolls back itself: an instance failing during a rollback fails the
  deployment (the environment is left as it is, and says so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from orchestrator.domain.model import DeploySpec

__all__ = [
    "Admit",
    "Drain",
    "Finish",
    "Health",
    "Instance",
    "Phase",
    "Rollout",
    "Start",
    "Step",
    "Stop",
    "apply",
    "in_traffic_capacity",
    "observe_drained",
    "observe_health",
    "observe_started",
    "observe_stopped",
    "plan",
    "start_rollout",
]


class Health(StrEnum):
    """What the deployer knows of an instance's health."""

    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Phase(StrEnum):
    """Where a rollout is."""

    ROLLING = "rolling"
    ROLLING_BACK = "rolling-back"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """One container of the environment, and its place in HAProxy."""

    name: str
    image: str
    health: Health = Health.STARTING
    started_at_ms: int = 0
    in_traffic: bool = False
    draining: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollout:
    """A deployment of ``spec.image`` over the instances running ``previous_image``."""

    spec: DeploySpec
    image: str
    previous_image: str
    instances: tuple[Instance, ...]
    phase: Phase = Phase.ROLLING
    reason: str = ""
    prefix: str  # names new instances: <prefix>-<counter>
    counter: int = 0

    @property
    def target(self) -> str:
        """The image the rollout is moving to now (the previous one while rolling back)."""
        return self.previous_image if self.phase is Phase.ROLLING_BACK else self.image

    @property
    def done(self) -> bool:
        """Whether the rollout has ended (succeeded, rolled back or failed)."""
        return self.phase in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED)


@dataclass(frozen=True, slots=True)
class Start:
    """Start a container of ``image`` named ``name`` (it gets no traffic yet)."""

    name: str
    image: str


@dataclass(frozen=True, slots=True)
class Admit:
    """Put a healthy instance into traffic (weight 0, then full weight)."""

    name: str


@dataclass(frozen=True, slots=True)
class Drain:
    """Send an instance no new requests; it is stopped once its last answer is out."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Take a drained (or never admitted) instance out of HAProxy and stop its container."""

    name: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The rollout moves to ``phase`` (for ``reason``): an end, or rolling back."""

    phase: Phase
    reason: str


Step = Start | Admit | Drain | Stop | Finish


def start_rollout(
    spec: DeploySpec, running: tuple[Instance, ...], image: str, *, prefix: str
) -> Rollout:
    """A rollout of ``image`` over the environment's ``running`` instances (all in traffic).

    ``prefix`` names the instances it starts (``<prefix>-1``, ``<prefix>-2`` …).
    """
    previous = running[0].image if running else ""
    return Rollout(
        spec=spec, image=image, previous_image=previous, instances=running, prefix=prefix
    )


def in_traffic_capacity(r: Rollout) -> int:
    """Healthy instances that take new requests."""
    return sum(
        1 for i in r.instances if i.in_traffic and not i.draining and i.health is Health.HEALTHY
    )


def plan(r: Rollout, now_ms: int) -> tuple[Step, ...]:
    """What to do next (empty: wait for an observation or the clock)."""
    if r.done:
        return ()
    failing = _failing(r, now_ms)
    if failing is not None:
        return _on_failure(r, failing)
    steps = (*_stops(r), *_admits(r), *_drains(r), *_starts(r))
    return steps or _finish(r)


def _failing(r: Rollout, now_ms: int) -> str | None:
    deadline = r.spec.healthy_deadline_ms
    for i in _of(r, r.target):
        if i.health is Health.UNHEALTHY:
            return f"instance {i.name} of {i.image} is unhealthy"
        if i.health is Health.STARTING and now_ms - i.started_at_ms > deadline:
            return f"instance {i.name} of {i.image} was not healthy within {deadline} ms"
    return None


def _on_failure(r: Rollout, reason: str) -> tuple[Step, ...]:
    if r.phase is Phase.ROLLING_BACK or not r.previous_image:
        why = f"rollback failed: {reason}" if r.phase is Phase.ROLLING_BACK else reason
        return (Finish(Phase.FAILED, why),)
    return (Finish(Phase.ROLLING_BACK, reason),)


def _of(r: Rollout, image: str) -> tuple[Instance, ...]:
    return tuple(i for i in r.instances if i.image == image)


def _stops(r: Rollout) -> tuple[Step, ...]:
    """Drained instances, and never-admitted ones of the image being left, are stopped."""
    leaving = [i for i in r.instances if not i.in_traffic and (i.draining or i.image != r.target)]
    broken = [i for i in _of(r, r.target) if i.health is Health.UNHEALTHY and not i.in_traffic]
    return tuple(Stop(i.name) for i in (*leaving, *broken))


def _admits(r: Rollout) -> tuple[Step, ...]:
    ready = [i for i in _of(r, r.target) if i.health is Health.HEALTHY and not i.in_traffic]
    return tuple(Admit(i.name) for i in ready)


def _drains(r: Rollout) -> tuple[Step, ...]:
    """Drain old instances while what stays in traffic holds the wanted capacity."""
    floor = r.spec.replicas - r.spec.max_unavailable
    capacity = in_traffic_capacity(r)
    steps: list[Step] = []
    for i in r.instances:
        if i.image == r.target or not i.in_traffic or i.draining:
            continue
        counts = i.health is Health.HEALTHY
        if counts and capacity - 1 < floor:
            break
        capacity -= 1 if counts else 0
        steps.append(Drain(i.name))
    return tuple(steps)


def _starts(r: Rollout) -> tuple[Step, ...]:
    """Start new instances up to ``replicas``, never more than ``replicas + max_surge`` alive."""
    wanted = r.spec.replicas - sum(1 for i in _of(r, r.target) if i.health is not Health.UNHEALTHY)
    room = r.spec.replicas + r.spec.max_surge - len(r.instances)
    n = max(0, min(wanted, room))
    return tuple(Start(f"{r.prefix}-{r.counter + k + 1}", r.target) for k in range(n))


def _finish(r: Rollout) -> tuple[Step, ...]:
    target = _of(r, r.target)
    settled = len(target) == len(r.instances) == r.spec.replicas
    if not (settled and all(i.in_traffic and i.health is Health.HEALTHY for i in target)):
        return ()
    if r.phase is Phase.ROLLING_BACK:
        return (Finish(Phase.ROLLED_BACK, r.reason),)
    return (Finish(Phase.SUCCEEDED, ""),)


def apply(r: Rollout, step: Step, now_ms: int) -> Rollout:
    """The rollout once ``step`` has been carried out (a Start is a new, starting instance)."""
    if isinstance(step, Start):
        born = Instance(name=step.name, image=step.image, started_at_ms=now_ms)
        return replace(r, instances=(*r.instances, born), counter=r.counter + 1)
    if isinstance(step, Admit):
        return _update(r, step.name, in_traffic=True)
    if isinstance(step, Drain):
        return _update(r, step.name, draining=True)
    if isinstance(step, Stop):
        return observe_stopped(r, step.name)
    if step.phase is Phase.ROLLING_BACK:
        return replace(r, phase=Phase.ROLLING_BACK, reason=step.reason)
    return replace(r, phase=step.phase, reason=step.reason or r.reason)


def observe_started(r: Rollout, name: str, now_ms: int) -> Rollout:
    """An instance's container is up (its deadline counts from now)."""
    return _update(r, name, started_at_ms=now_ms)


def observe_health(r: Rollout, name: str, health: Health) -> Rollout:
    """An instance answered (or failed) its health check."""
    return _update(r, name, health=health)


def observe_drained(r: Rollout, name: str) -> Rollout:
    """A draining instance has no request left: it leaves the traffic."""
    return _update(r, name, in_traffic=False)


def observe_stopped(r: Rollout, name: str) -> Rollout:
    """An instance's container is gone."""
    return replace(r, instances=tuple(i for i in r.instances if i.name != name))


def _update(r: Rollout, name: str, **changes: object) -> Rollout:
    found = tuple(replace(i, **changes) if i.name == name else i for i in r.instances)  # type: ignore[arg-type]
    return replace(r, instances=found)
