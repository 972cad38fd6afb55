"""A stand-in for the real runner: takes jobs from the job topics and reports outcomes to the
inbox as a real runner does, instantly and as each test scripts it. It replaces only the
runner; Kafka, the decider and the timers are the real ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.domain import FailureClass
from orchestrator.domain.events import RunEvent, StageClaimed, StageFailed, StageSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.wire import decode_record, encode_event
from schemas.eventlog import TopicNames, consumer, producer
from schemas.settings import ServiceSettings
from tests.support.event_ids import AttemptIds

__all__ = ["Outcome", "StandInRunner"]


@dataclass(frozen=True)
class Outcome:
    """What the stand-in does with one job."""

    kind: str = "succeed"  # succeed | fail | hang (claim, then never answer)
    failure_class: FailureClass = FailureClass.DETERMINISTIC
    lease_ms: int | None = None  # the lease the claim asks for; None: the job's own


Script = Callable[[Job], Outcome]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class StandInRunner:
    """Consumes every job topic in one group; ``scripts[run_id]`` decides each outcome."""

    settings: ServiceSettings
    prefix: str
    runner_id: str = "stand-in"
    scripts: dict[str, Script] = field(default_factory=dict)
    taken: list[Job] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        names = TopicNames(self.prefix)
        out = producer(self.settings)
        c = consumer(self.settings, group=f"{self.prefix}stand-in-runners")
        c.subscribe(list(names.jobs))
        try:
            while not stop.is_set():
                msg = c.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                job = decode_record(msg.value() or b"")
                assert isinstance(job, Job)
                self.taken.append(job)
                for report in self._reports(job):
                    out.produce(names.inbox, key=job.run_id.encode(), value=encode_event(report))
                out.poll(0)
        finally:
            c.close()
            out.flush(10)

    def _reports(self, job: Job) -> list[RunEvent]:
        script: Script = self.scripts.get(job.run_id, lambda _: Outcome())
        outcome = script(job)
        now = _now_ms()
        base: AttemptIds = {"run_id": job.run_id, "stage": job.stage.name, "attempt": job.attempt}
        lease = outcome.lease_ms if outcome.lease_ms is not None else job.lease_ms
        claimed = StageClaimed(
            **base, runner_id=self.runner_id, lease_deadline_ms=now + lease, occurred_at_ms=now
        )
        if outcome.kind == "hang":
            return [claimed]
        if outcome.kind == "fail":
            failed = StageFailed(
                **base,
                runner_id=self.runner_id,
                exit_code=1,
                failure_class=outcome.failure_class,
                reason=f"scripted {outcome.failure_class} failure",
                occurred_at_ms=now + 1,
            )
            return [claimed, failed]
        done = StageSucceeded(
            **base, runner_id=self.runner_id, duration_ms=1, occurred_at_ms=now + 1
        )
        return [claimed, done]
