"""The canary phase of a deployment: one instance of the new image takes a growing share.

For each step of ``deploy.steps`` the canary's HAProxy weight gives it ``weight`` percent of
the traffic for ``pause``; its answers (HAProxy's per-server counters, read ten times a
second) are judged by :func:`orchestrator.domain.canary.verdict`. A failing canary is cut off
at once (weight 0, then stopped) and the deployment rolled back; a step that ends with too
few answers is inconclusive and the canary is never promoted (the deployment stops there,
unpromoted, with the environment on its previous revision). A canary that passes every
step is promoted: the rolling planner then replaces the stable instances.
"""

from __future__ import annotations

import time

from orchestrator.domain.canary import Verdict, canary_weight, verdict
from orchestrator.domain.events import (
    AnalysisMeasured,
    DeploymentFailed,
    DeploymentRolledBack,
    InstanceHealthy,
    InstanceUnhealthy,
    TrafficShifted,
)
from orchestrator.domain.model import CanaryAnalysis, CanaryStep
from orchestrator.domain.rollout import Health, Instance, Phase, Start
from runners.deployer.haproxy import FULL_WEIGHT
from runners.deployer.steps import Outcome, Steps

__all__ = ["CanaryPhase"]

_POLL_S = 0.1


class CanaryPhase:
    """Runs the canary steps of ``deployment`` over its ``stable`` instances."""

    def __init__(self, deployment: Steps, stable: tuple[Instance, ...], image: str) -> None:
        self.d = deployment
        self.stable = stable
        self.image = image
        self.name = f"{deployment.prefix()}-canary"
        self.analysis = deployment.spec.analysis or CanaryAnalysis()

    def run(self) -> tuple[Instance, ...] | Outcome:
        """The instances to promote from (stable + canary), or how the deployment ended."""
        self.d.start(Start(self.name, self.image))
        problem = self._wait_healthy()
        if problem is not None:
            self.d.report(InstanceUnhealthy(**self.d.ids(), instance=self.name, reason=problem))
            return self._back(problem)
        self.d.report(InstanceHealthy(**self.d.ids(), instance=self.name))
        self.d.admit(self.name, weight=0)
        for step in self.d.spec.canary_steps:
            judged = self._step(step)
            if judged is Verdict.FAIL:
                return self._back(f"canary analysis failed at {step.weight}%")
            if judged is Verdict.INCONCLUSIVE:
                return self._unpromoted(step)
        self._weigh(FULL_WEIGHT)
        canary = Instance(name=self.name, image=self.image, health=Health.HEALTHY, in_traffic=True)
        return (*self.stable, canary)

    def _wait_healthy(self) -> str | None:
        path = self.d.spec.health_check_path or "/"
        deadline = time.monotonic() + self.d.spec.healthy_deadline_ms / 1000
        while time.monotonic() < deadline:
            if self.d.containers.healthy(self.d.addresses[self.name], path):
                return None
            gone = self.d.containers.exited(self.name)
            if gone is not None:
                return f"canary {self.name} {gone}"
            time.sleep(0.1)
        return f"canary {self.name} was not healthy within {self.d.spec.healthy_deadline_ms} ms"

    def _step(self, step: CanaryStep) -> Verdict:
        """Give the canary its share for the step's pause; judge as answers come in."""
        self._weigh(canary_weight(len(self.stable), step.weight))
        base = self.d.haproxy.counters(self.d.key)
        began = time.monotonic()
        judged = Verdict.INCONCLUSIVE
        while True:
            time.sleep(_POLL_S)
            counts = self._since(base)
            judged = verdict(counts[0], counts[1], self.analysis)
            over = time.monotonic() - began >= step.pause_ms / 1000
            if judged is Verdict.FAIL or over:
                self._measured(step, int((time.monotonic() - began) * 1000), counts, judged)
                return judged

    def _since(self, base: dict[str, tuple[int, int]]) -> tuple[int, int, int, int]:
        """(canary answers, canary errors, stable answers, stable errors) since ``base``."""
        now = self.d.haproxy.counters(self.d.key)
        canary_slot = self.d.slots[self.name]
        out = [0, 0, 0, 0]
        for slot, (answers, errors) in now.items():
            before = base.get(slot, (0, 0))
            k = 0 if slot == canary_slot else 2
            if slot == canary_slot or slot in {self.d.slots.get(i.name) for i in self.stable}:
                out[k] += answers - before[0]
                out[k + 1] += errors - before[1]
        return out[0], out[1], out[2], out[3]

    def _measured(
        self, step: CanaryStep, window_ms: int, counts: tuple[int, int, int, int], v: Verdict
    ) -> None:
        self.d.report(
            AnalysisMeasured(
                **self.d.ids(),
                canary_weight=step.weight,
                window_ms=window_ms,
                requests=counts[0],
                errors=counts[1],
                stable_requests=counts[2],
                stable_errors=counts[3],
                verdict=str(v),
            )
        )

    def _weigh(self, weight: int) -> None:
        self.d.haproxy.weigh(self.d.key, self.d.slots[self.name], weight)
        weights = {i.name: FULL_WEIGHT for i in self.stable} | {self.name: weight}
        self.d.report(TrafficShifted(**self.d.ids(), weights=weights))

    def _remove_canary(self) -> None:
        if self.name in self.d.slots:
            self._weigh(0)
        self.d.stop(self.name)

    def _back(self, reason: str) -> Outcome:

        self._remove_canary()
        previous = self.stable[0].image
        event = DeploymentRolledBack(**self.d.base(), reason=reason, to_image=previous)
        return Outcome(Phase.ROLLED_BACK, reason, event)

    def _unpromoted(self, step: CanaryStep) -> Outcome:

        self._remove_canary()
        reason = (
            f"canary analysis inconclusive at {step.weight}%: fewer than "
            f"{self.analysis.min_requests} answers in {step.pause_ms} ms; not promoted"
        )
        return Outcome(Phase.FAILED, reason, DeploymentFailed(**self.d.base(), reason=reason))
