"""One deployment carried out: the pure planner's steps done on Docker and HAProxy, and
every step reported to ``sluice.inbox`` as an event of the deploy stage's attempt."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.events import (
    DeploymentAborted,
    DeploymentFailed,
    DeploymentPromoted,
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    InstanceHealthy,
    InstanceStarted,
    InstanceUnhealthy,
    RunEvent,
    TrafficShifted,
)
from orchestrator.domain.images import built_image_name, resolve_image
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import DeploySpec
from orchestrator.domain.rollout import (
    Admit,
    Drain,
    Health,
    Instance,
    Phase,
    Rollout,
    Start,
    Step,
    Stop,
    apply,
    observe_drained,
    observe_health,
    plan,
    start_rollout,
)
from runners.deployer.bluegreen import BlueGreenPhase
from runners.deployer.canary import CanaryPhase
from runners.deployer.decisions import DecisionSource
from runners.deployer.errors import HAProxyUnavailable
from runners.deployer.haproxy import FULL_WEIGHT, HAProxy
from runners.deployer.instances import Containers, Running
from runners.deployer.steps import Outcome

__all__ = ["MAX_PAUSE_MS", "Deployment", "Outcome"]

Clock = Callable[[], int]
MAX_PAUSE_MS = 25 * 60_000  # below the deploy consumer's max.poll.interval.ms (30 min)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Deployment:
    """Carries out the deploy stage of ``job`` on one environment."""

    job: Job
    haproxy: HAProxy
    containers: Containers
    report: Callable[[RunEvent], None]
    clock: Clock = _now_ms
    step_no: int = 0
    slots: dict[str, str] = field(default_factory=dict)  # instance → slot
    addresses: dict[str, str] = field(default_factory=dict)  # instance → ip:port
    key: str = ""  # the HAProxy backend key worked on (the environment's active one)
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:4])
    registry: str = "127.0.0.1:5000"  # where build_image stages push
    decisions: DecisionSource | None = None  # a person's promote / abort, from sluice.runs

    def aborted(self) -> DeploymentAborted | None:
        """A person's abort of this deployment, once the log has one."""
        return None if self.decisions is None else self.decisions.aborted()

    def promoted(self, step: int) -> DeploymentPromoted | None:
        """A person's promote of the pause numbered ``step``, once the log has one."""
        return None if self.decisions is None else self.decisions.promoted(step)

    @property
    def pause_limit_ms(self) -> int:
        """How long a paused canary waits for a person before it is rolled back: the
        stage's timeout, at most :data:`MAX_PAUSE_MS` (the deployer's poll interval)."""
        return min(self.job.stage.timeout_ms, MAX_PAUSE_MS)

    @property
    def spec(self) -> DeploySpec:
        assert self.job.stage.deploy is not None
        return self.job.stage.deploy

    @property
    def env(self) -> str:
        return self.spec.environment

    def image(self) -> str:
        """The image to ship: ``${{ images.NAME }}`` is the one this run built (pushed to
        ``registry`` as ``NAME:<commit sha>``); any other name is used as written."""
        written = self.spec.image or ""
        if built_image_name(written) is None:
            return written
        return f"{self.registry}/{resolve_image(written, self.job.commit_sha)}"

    def run(self) -> Outcome:
        """Deploy, roll back if it must, and report; returns how it ended."""
        path = self.spec.health_check_path or "/"
        self.haproxy.ensure_environment(self.env, path)
        self.key = self.haproxy.active(self.env)
        image = self.image()
        running = self._reconcile()
        if self.spec.strategy == "canary":
            running = self._without_interrupted_canary(running, image)
        self.report(self._started(image))
        if self.spec.strategy == "blue-green":
            switched = BlueGreenPhase(self, running, image).run()
            if switched.event is not None:
                self.report(switched.event)
            return switched
        if self.spec.strategy == "canary" and running:
            canary = CanaryPhase(self, running, image).run()
            if isinstance(canary, Outcome):
                if canary.event is not None:
                    self.report(canary.event)
                return canary
            running = canary
        r = start_rollout(self.spec, running, image, prefix=self.prefix())
        while not r.done:
            for step in plan(r, self.clock()):
                r = self._carry_out(r, step)
            r = self._observe(r)
            time.sleep(0.05)
        self._leave_clean(r)
        self.report(self._ended(r))
        return Outcome(r.phase, r.reason)

    def prefix(self) -> str:
        """How this deployer names the containers it starts (unique per process, so one
        taking over after a crash never reuses a running instance's name)."""
        return f"{self.env}-{self.job.run_id[:8]}-{self.job.attempt}-{self.nonce}"

    def _reconcile(self) -> tuple[Instance, ...]:
        """The environment's containers that HAProxy sends traffic to; others are removed."""
        port = self.spec.port
        serving = {s.address: s.name for s in self.haproxy.slots(self.key) if not s.in_maintenance}
        standby = self.haproxy.standby(self.env)
        for s in self.haproxy.slots(standby):  # a blue-green switch a crash left half done
            if not s.in_maintenance:
                self.haproxy.free(standby, s.name)
        found = []
        for c in self.containers.of(self.env, port):
            slot = serving.get(c.address)
            if slot is None:
                self.containers.stop(c.name)
                continue
            self.slots[c.name], self.addresses[c.name] = slot, c.address
            found.append(
                Instance(name=c.name, image=c.image, health=Health.HEALTHY, in_traffic=True)
            )
        return tuple(found)

    def _without_interrupted_canary(
        self, running: tuple[Instance, ...], image: str
    ) -> tuple[Instance, ...]:
        """The stable instances, once a canary that a crashed deployer left serving beside
        them is stopped: taken for a stable instance, it would be promoted without its
        analysis. The canary then starts again from its first step."""
        canaries = [i for i in running if i.image == image]
        stable = tuple(i for i in running if i.image != image)
        if not canaries or not stable:
            return running
        for i in canaries:
            self.stop(i.name)
        return stable

    def _carry_out(self, r: Rollout, step: Step) -> Rollout:
        now = self.clock()
        if isinstance(step, Start):
            self.start(step)
        elif isinstance(step, Admit):
            self.admit(step.name)
        elif isinstance(step, Drain):
            self.haproxy.drain(self.key, self.slots[step.name])
        elif isinstance(step, Stop):
            self.stop(step.name)
        elif step.phase is not Phase.SUCCEEDED:
            self._late(r)
        r = apply(r, step, now)
        if isinstance(step, Admit | Drain):
            self.report(self._shifted(r))
        return r

    def start(self, step: Start) -> None:
        """Start the instance's container and report it."""
        c: Running = self.containers.start(self.env, step.name, step.image, self.spec.port)
        self.addresses[step.name] = c.address
        self.report(
            InstanceStarted(**self.ids(), instance=step.name, image=step.image, address=c.address)
        )

    def admit(self, name: str, weight: int = FULL_WEIGHT) -> None:
        """Put the instance into a free HAProxy slot at ``weight``."""
        used = set(self.slots.values())
        free = next((s.name for s in self.haproxy.slots(self.key) if s.name not in used), None)
        if free is None:
            raise HAProxyUnavailable(f"be_{self.env} has no free server slot for {name}")
        self.haproxy.admit(self.key, free, self.addresses[name], weight)
        self.slots[name] = free

    def stop(self, name: str) -> None:
        """Take the instance out of HAProxy and stop its container."""
        slot = self.slots.pop(name, None)
        if slot is not None:
            self.haproxy.free(self.key, slot)
        self.containers.stop(name)

    def _late(self, r: Rollout) -> None:
        """Instances still starting when the rollout gives up are reported unhealthy."""
        reason = f"not healthy within {self.spec.healthy_deadline_ms} ms"
        for i in r.instances:
            if i.health is Health.STARTING and i.image == r.target:
                self.report(InstanceUnhealthy(**self.ids(), instance=i.name, reason=reason))

    def _observe(self, r: Rollout) -> Rollout:
        path = self.spec.health_check_path or "/"
        for i in r.instances:
            if i.health is Health.STARTING:
                r = self._check(r, i, path)
            elif i.draining and i.in_traffic and self._idle(i.name):
                r = observe_drained(r, i.name)
        return r

    def _idle(self, name: str) -> bool:
        return self.haproxy.sessions(self.key, self.slots[name]) == 0

    def _check(self, r: Rollout, i: Instance, path: str) -> Rollout:
        if self.containers.healthy(self.addresses[i.name], path):
            self.report(InstanceHealthy(**self.ids(), instance=i.name))
            return observe_health(r, i.name, Health.HEALTHY)
        gone = self.containers.exited(i.name)
        if gone is not None:
            self.report(InstanceUnhealthy(**self.ids(), instance=i.name, reason=gone))
            return observe_health(r, i.name, Health.UNHEALTHY)
        return r

    def _leave_clean(self, r: Rollout) -> None:
        """After a failure, containers that never got traffic are removed."""
        for i in r.instances:
            if not i.in_traffic:
                self.stop(i.name)

    def ids(self) -> dict[str, Any]:
        """The fields of the next step event."""
        self.step_no += 1
        return {**self.base(), "step": self.step_no}

    def base(self) -> dict[str, Any]:
        """The fields every deployment event carries."""
        return {
            "run_id": self.job.run_id,
            "stage": self.job.stage.name,
            "attempt": self.job.attempt,
            "occurred_at_ms": self.clock(),
            "deployment_id": self.job.job_id,
            "environment": self.env,
        }

    def _started(self, image: str) -> DeploymentStarted:
        return DeploymentStarted(
            **self.base(),
            strategy=self.spec.strategy,
            image=image,
            replicas=self.spec.replicas,
            port=self.spec.port,
            health_check_path=self.spec.health_check_path or "/",
        )

    def _shifted(self, r: Rollout) -> TrafficShifted:
        weights = {
            i.name: FULL_WEIGHT if i.in_traffic and not i.draining else 0
            for i in r.instances
            if i.name in self.slots
        }
        return TrafficShifted(**self.ids(), weights=weights)

    def _ended(self, r: Rollout) -> RunEvent:
        """The event that closes the deployment."""
        if r.phase is Phase.SUCCEEDED:
            return DeploymentSucceeded(**self.base())
        if r.phase is Phase.ROLLED_BACK:
            return DeploymentRolledBack(**self.base(), reason=r.reason, to_image=r.previous_image)
        return DeploymentFailed(**self.base(), reason=r.reason)
