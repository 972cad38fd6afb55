"""A SIMULATED executor: a stage "runs" by sleeping for its declared duration. Never real work.

It exists to measure the control plane (job topics, intake, claims, heartbeats, the pool)
at a scale this machine cannot run containers at (bench/job_queue.py). It is used only when a
runner is started with ``--simulated-executor-sleeps-instead-of-running`` (never by default):
no container, checkout, secret, artifact or log is touched, and the stage is reported
succeeded after the sleep — so a runner in this mode must never serve real pipelines.

A stage's declared duration is the sum of its script's ``sleep N`` lines (seconds, as
``sleep`` reads them); any other line counts as no time. ``sleep 30`` takes 30 s here and
in a real container alike.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from orchestrator.domain.events import RunEvent, StageCancelled, StageFailed, StageSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import FailureClass
from runners.reporter import Reporter

__all__ = ["SIMULATION_FLAG", "SimulatedAttempt", "declared_duration_ms"]

SIMULATION_FLAG = "--simulated-executor-sleeps-instead-of-running"
_SLEEP = re.compile(r"^\s*sleep\s+(\d+(?:\.\d+)?)\s*$")


def declared_duration_ms(stage: StageSpec) -> int:
    """Milliseconds the stage's script declares by its ``sleep N`` lines."""
    total = 0.0
    for line in stage.script:
        for command in line.split("&&"):
            match = _SLEEP.match(command)
            if match:
                total += float(match[1])
    return round(total * 1000)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SimulatedAttempt:
    """Sleeps for the job's declared duration, then reports the stage succeeded."""

    def __init__(
        self,
        job: Job,
        *,
        reporter: Reporter,
        runner_id: str,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        """Prepare to "run" ``job`` (nothing happens until :meth:`run`)."""
        self.job = job
        self._reporter = reporter
        self._runner_id = runner_id
        self._clock = clock
        self._stopped = threading.Event()
        self._stop_reason = ""
        self._shutdown = False

    def cancel(self, reason: str) -> None:
        """End the sleep now and report the stage cancelled."""
        self._stop_reason = reason or "cancelled"
        self._stopped.set()

    def shutdown(self) -> None:
        """The runner is stopping: end the sleep and report an infrastructure failure."""
        self._shutdown = True
        self._stop_reason = "the runner shut down during the (simulated) stage"
        self._stopped.set()

    def run(self) -> None:
        """Sleep for the declared duration (or until stopped) and report the outcome."""
        started = self._clock()
        stopped = self._stopped.wait(declared_duration_ms(self.job.stage) / 1000)
        self._reporter.report(self._outcome(stopped=stopped, started_ms=started))

    def _outcome(self, *, stopped: bool, started_ms: int) -> RunEvent:
        job, now = self.job, self._clock()
        if not stopped:
            return StageSucceeded(
                run_id=job.run_id,
                stage=job.stage.name,
                attempt=job.attempt,
                occurred_at_ms=now,
                runner_id=self._runner_id,
                duration_ms=now - started_ms,
            )
        if self._shutdown:
            return StageFailed(
                run_id=job.run_id,
                stage=job.stage.name,
                attempt=job.attempt,
                occurred_at_ms=now,
                runner_id=self._runner_id,
                failure_class=FailureClass.INFRASTRUCTURE,
                reason=self._stop_reason,
            )
        return StageCancelled(
            run_id=job.run_id,
            stage=job.stage.name,
            attempt=job.attempt,
            occurred_at_ms=now,
            reason=self._stop_reason,
        )
