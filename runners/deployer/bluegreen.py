"""The blue-green strategy: the full green set on the environment's standby backend, checked,
then all traffic switched at once with one runtime command (``set map``), blue kept warm for
``scale_down_delay`` (a green instance failing then switches straight back, and so does a
person's abort: ``POST /environments/{env}/rollback`` while blue is warm), then retired."""

from __future__ import annotations

import time

from orchestrator.domain.events import (
    DeploymentFailed,
    DeploymentRolledBack,
    DeploymentSucceeded,
    InstanceHealthy,
    InstanceUnhealthy,
    TrafficShifted,
)
from orchestrator.domain.rollout import Instance, Phase, Start
from runners.deployer.haproxy import FULL_WEIGHT
from runners.deployer.steps import Outcome, Steps

__all__ = ["BlueGreenPhase"]


class BlueGreenPhase:
    """Deploys ``image`` as a green set beside the ``blue`` instances of ``deployment``."""

    def __init__(self, deployment: Steps, blue: tuple[Instance, ...], image: str) -> None:
        self.d = deployment
        self.blue = blue
        self.image = image
        self.blue_key = deployment.key
        self.green_key = deployment.haproxy.standby(deployment.env)
        self.green = [f"{deployment.prefix()}-{k + 1}" for k in range(deployment.spec.replicas)]

    def run(self) -> Outcome:
        """Start, check, switch, keep blue warm, retire blue; or roll back."""
        for name in self.green:
            self.d.start(Start(name, self.image))
        problem = self._wait_healthy()
        if problem is not None:
            return self._back(problem, switched=False)
        for k, name in enumerate(self.green):
            self.d.haproxy.admit(self.green_key, f"s{k}", self.d.addresses[name])
        self._switch(self.green_key)
        problem = self._keep_blue_warm()
        if problem is not None:
            return self._back(problem, switched=True)
        self._retire_blue()
        return self._outcome(Phase.SUCCEEDED, "", DeploymentSucceeded(**self.d.base()))

    def _wait_healthy(self) -> str | None:
        path = self.d.spec.health_check_path or "/"
        waiting = list(self.green)
        deadline = time.monotonic() + self.d.spec.healthy_deadline_ms / 1000
        while waiting and time.monotonic() < deadline:
            aborted = self.d.aborted()
            if aborted is not None:
                return f"aborted by {aborted.requested_by} before the switch"
            for name in list(waiting):
                if self.d.containers.healthy(self.d.addresses[name], path):
                    self.d.report(InstanceHealthy(**self.d.ids(), instance=name))
                    waiting.remove(name)
            time.sleep(0.05)
        if not waiting:
            return None
        reason = f"not healthy within {self.d.spec.healthy_deadline_ms} ms"
        for name in waiting:
            self.d.report(InstanceUnhealthy(**self.d.ids(), instance=name, reason=reason))
        return f"green instance {waiting[0]} was {reason}"

    def _switch(self, key: str) -> None:
        self.d.haproxy.switch(self.d.env, key)
        on = self.green if key == self.green_key else [i.name for i in self.blue]
        off = [i.name for i in self.blue] if key == self.green_key else self.green
        weights = {n: FULL_WEIGHT for n in on} | {n: 0 for n in off}
        self.d.report(TrafficShifted(**self.d.ids(), weights=weights))

    def _keep_blue_warm(self) -> str | None:
        """Watch green for ``scale_down_delay``; the first failing check (or a person's
        abort) is returned."""
        path = self.d.spec.health_check_path or "/"
        until = time.monotonic() + self.d.spec.scale_down_delay_ms / 1000
        while time.monotonic() < until:
            aborted = self.d.aborted()
            if aborted is not None:
                return f"aborted by {aborted.requested_by} while blue was warm"
            for name in self.green:
                if not self.d.containers.healthy(self.d.addresses[name], path):
                    reason = "stopped answering its health check after the switch"
                    self.d.report(InstanceUnhealthy(**self.d.ids(), instance=name, reason=reason))
                    return f"green instance {name} {reason}"
            time.sleep(0.2)
        return None

    def _retire_blue(self) -> None:
        for i in self.blue:
            slot = self.d.slots.pop(i.name, None)
            if slot is not None:
                while self.d.haproxy.sessions(self.blue_key, slot) > 0:
                    time.sleep(0.05)
                self.d.haproxy.free(self.blue_key, slot)
            self.d.containers.stop(i.name)
        self.d.key = self.green_key

    def _back(self, reason: str, *, switched: bool) -> Outcome:
        if switched and self.blue:
            self._switch(self.blue_key)
        for k, name in enumerate(self.green):
            if switched:
                self.d.haproxy.free(self.green_key, f"s{k}")
            self.d.containers.stop(name)
        if not self.blue:
            return self._outcome(
                Phase.FAILED, reason, DeploymentFailed(**self.d.base(), reason=reason)
            )
        event = DeploymentRolledBack(**self.d.base(), reason=reason, to_image=self.blue[0].image)
        return self._outcome(Phase.ROLLED_BACK, reason, event)

    @staticmethod
    def _outcome(phase: Phase, reason: str, event: object) -> Outcome:

        return Outcome(phase, reason, event)  # type: ignore[arg-type]
