"""The canary phase of a deployment: one instance of the new image takes a growing share.

For each step of ``deploy.steps`` the canary's HAProxy weight gives it ``weight`` percent of
the traffic for ``pause``; its answers (HAProxy's per-server counters, read ten times a
second) are judged by :func:`orchestrator.domain.canary.verdict`. A failing canary is cut off
at once (weight 0, then stopped) and the deployment rolled back. A step that says
``pause: manual``, or that ends with too few answers (inconclusive: never a pass), pauses
the deployment (``DeploymentPaused``) at that share until a person promotes it (the next
step) or aborts it (rolled back); the canary is still judged meanwhile, and a pause longer
than the stage's timeout (at most 25 minutes) is rolled back. An abort is heard at any
step. A canary that passes every step is promoted: the rolling planner then replaces the
stable instances.
"""

from __future__ import annotations

import time

from orchestrator.domain.canary import Verdict, canary_weight, verdict
from orchestrator.domain.events import (
    AnalysisMeasured,
    DeploymentPaused,
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
            judged = self._paused(step, manual=True) if step.manual else self._step(step)
            if judged is Verdict.INCONCLUSIVE:
                judged = self._paused(step, manual=False)
            if judged is Verdict.FAIL:
                return self._back(f"canary analysis failed at {step.weight}%")
            if not isinstance(judged, Verdict):  # aborted or paused too long: why
                return self._back(judged)
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

    def _step(self, step: CanaryStep) -> Verdict | str:
        """Give the canary its share for the step's pause; judge as answers come in.
        A text: aborted, why."""
        self._weigh(canary_weight(len(self.stable), step.weight))
        base = self.d.haproxy.counters(self.d.key)
        began = time.monotonic()
        judged = Verdict.INCONCLUSIVE
        while True:
            time.sleep(_POLL_S)
            counts = self._since(base)
            judged = verdict(counts[0], counts[1], self.analysis)
            held = (time.monotonic() - began) * 1000
            if judged is Verdict.FAIL or held >= step.pause_ms:
                self._measured(step, int(held), counts, judged)
                return judged
            aborted = self.d.aborted()
            if aborted is not None:
                return f"aborted by {aborted.requested_by} at {step.weight}%"

    def _paused(self, step: CanaryStep, *, manual: bool) -> Verdict | str:
        """Wait for a person's promote (PASS) or abort (a text), judging the canary meanwhile;
        a failing canary is FAIL, a pause past the limit a text. A manual step first gives
        the canary its share; an inconclusive one keeps it."""
        if manual:
            self._weigh(canary_weight(len(self.stable), step.weight))
            why = "pause: manual"
        else:
            why = f"analysis inconclusive: fewer than {self.analysis.min_requests} answers"
        ids = self.d.ids()
        self.d.report(DeploymentPaused(**ids, canary_weight=step.weight, reason=why))
        base = self.d.haproxy.counters(self.d.key)
        began = time.monotonic()
        while (held := (time.monotonic() - began) * 1000) < self.d.pause_limit_ms:
            time.sleep(_POLL_S)
            counts = self._since(base)
            if verdict(counts[0], counts[1], self.analysis) is Verdict.FAIL:
                self._measured(step, int(held), counts, Verdict.FAIL)
                return Verdict.FAIL
            aborted = self.d.aborted()
            if aborted is not None:
                return f"aborted by {aborted.requested_by} while paused at {step.weight}%"
            if self.d.promoted(ids["step"]) is not None:
                self._measured(
                    step, int(held), counts, verdict(counts[0], counts[1], self.analysis)
                )
                return Verdict.PASS
        return f"paused at {step.weight}% for {self.d.pause_limit_ms} ms with no promote"

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
