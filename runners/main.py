"""``sluice runner``: the loop that takes jobs into slots and keeps their leases alive.

One turn of the loop (every 5 ms while there is work, backing off to 50 ms when idle:
:mod:`runners.pace`): feed newly dispatched jobs into the shared job queue,
take from it only as many jobs as there are free slots (:mod:`runners.intake`: most urgent
first, whichever runner asks) and claim each one (``StageClaimed`` acknowledged by Kafka,
then the queue row is handed over), start the attempts whose claim the decider accepted
(:mod:`runners.claim_gate`: a stale copy never starts a container), pass cancellations and
lost leases to their attempts, send heartbeats that are due (every 15 s for a 60 s lease,
:mod:`orchestrator.domain.leases`), and forget finished attempts. On stop, every running
attempt is stopped and reported as an infrastructure failure, and so is every claim that
was still waiting for the decider. On *drain* (``sluice pool`` scaling
in), the runner leaves the feeding group at once, takes no new job, lets its running attempts
finish, and returns: nothing is interrupted. With ``status_file`` it tells the pool its slots
and liveness (runners/status.py); with ``simulated`` its stages only sleep
(runners/simulated.py, a benchmark's simulation, never the default).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator.domain.events import StageClaimed, StageFailed, StageHeartbeat
from orchestrator.domain.images import resolve_image
from orchestrator.domain.jobs import Job
from orchestrator.domain.leases import heartbeat_interval_ms, may_extend_lease
from orchestrator.domain.statuses import FailureClass
from runners.artifacts import MinioArtifactStore
from runners.attempt import Attempt, AttemptDeps, now_ms
from runners.cancels import cancellations
from runners.claim_gate import AttemptKey, ClaimGate
from runners.config import RunnerConfig
from runners.executor import DockerContainers
from runners.history import TestHistory
from runners.imagebuild import ImageBuilder
from runners.intake import JobIntake, Taken
from runners.messages import CancelNotice, decode_job
from runners.notices import Notices
from runners.pace import BUSY_PAUSE_S, next_pause
from runners.reaper import Orphan, hold_runner_lock, reap_dead_runners
from runners.reporter import KafkaReporter
from runners.secrets import SecretStore, load_key
from runners.simulated import SimulatedAttempt
from runners.status import StatusFile
from runners.warm import start_warming
from schemas.eventlog import TopicNames
from schemas.metrics import RUNNER_SLOTS_BUSY, RUNNER_SLOTS_FREE
from schemas.settings import ServiceSettings

__all__ = ["new_runner_id", "run"]

log = logging.getLogger("sluice.runner")


def new_runner_id() -> str:
    """A fresh runner id."""
    return f"runner-{uuid.uuid4().hex[:12]}"


@dataclass
class _Slot:
    attempt: Attempt | SimulatedAttempt
    thread: threading.Thread
    started_ms: int
    next_heartbeat_ms: int
    cancelled: bool = field(default=False)
    done: bool = field(default=False)  # set by its thread as the attempt ends

    @property
    def key(self) -> AttemptKey:
        job = self.attempt.job
        return (job.run_id, job.stage.name, job.attempt)


def run(
    settings: ServiceSettings,
    *,
    prefix: str,
    slots: int,
    runner_id: str,
    stop: threading.Event,
    config: RunnerConfig | None = None,
    drain: threading.Event | None = None,
    status_file: Path | None = None,
    simulated: bool = False,
) -> None:
    """Run jobs of the topics of ``prefix`` in ``slots`` parallel slots until ``stop`` is set,
    or until ``drain`` is set and the running attempts have finished."""
    config = config or replace(RunnerConfig.from_env(), key_prefix=prefix)
    lock = hold_runner_lock(config.locks_dir, runner_id)
    try:
        runner = _Runner(
            settings,
            prefix=prefix,
            slots=slots,
            runner_id=runner_id,
            config=config,
            simulated=simulated,
        )
        runner.status = (
            StatusFile(status_file, runner_id=runner_id, slots=slots) if status_file else None
        )
        runner.loop(stop, drain or threading.Event())
    finally:
        (config.locks_dir / f"{runner_id}.lock").unlink(missing_ok=True)
        lock.close()


def _containers(
    settings: ServiceSettings, config: RunnerConfig, runner_id: str
) -> DockerContainers:
    return DockerContainers(
        docker_host=settings.docker_host,
        registry=settings.registry,
        runner_id=runner_id,
        lock_path=(config.locks_dir / f"{runner_id}.lock").resolve(),
        work_root=(config.work_dir / runner_id).resolve(),
    )


def _attempt_deps(
    settings: ServiceSettings,
    config: RunnerConfig,
    containers: DockerContainers,
    reporter: KafkaReporter,
) -> AttemptDeps:
    """Everything attempts share: Docker, MinIO, the secret store, the test history."""
    key = load_key(env_key=config.secrets_key, state_dir=config.state_dir)
    return AttemptDeps(
        runner_id=containers.runner_id,
        config=config,
        containers=containers,
        store=MinioArtifactStore(settings),
        secrets=SecretStore(dsn=settings.pg_dsn, key=key, schema=config.pg_schema),
        history=TestHistory(dsn=settings.pg_dsn, schema=config.pg_schema),
        reporter=reporter,
        images=lambda: ImageBuilder(docker_host=settings.docker_host, registry=settings.registry),
    )


class _Runner:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        prefix: str,
        slots: int,
        runner_id: str,
        config: RunnerConfig,
        simulated: bool = False,
    ) -> None:
        topics = TopicNames(prefix)
        self.status: StatusFile | None = None
        self._simulated = simulated
        self._draining = False
        self._reporter = KafkaReporter(settings, prefix=prefix)
        self._containers = _containers(settings, config, runner_id)
        self._deps = _attempt_deps(settings, config, self._containers, self._reporter)
        if not simulated:  # a simulation touches no container: nothing to reap or warm
            self._reap(config)
        if config.warm_images >= 0 and not simulated:
            start_warming(
                self._containers,
                dsn=settings.pg_dsn,
                schema=config.pg_schema,
                top=config.warm_images,
            )
        self._slots = slots
        self._runner_id = runner_id
        self._active: dict[str, _Slot] = {}
        self._wake = threading.Event()  # an attempt ended: its slot is free now
        self._notices = Notices(settings, topics=topics, runner_id=runner_id)
        self._gate = ClaimGate(runner_id=runner_id)
        self._intake = JobIntake(
            settings,
            topics=topics,
            group=f"{prefix}sluice-runners",
            schema=config.pg_schema,
            runner_id=runner_id,
        )

    def _reap(self, config: RunnerConfig) -> None:
        runner_id = self._deps.runner_id
        orphans = reap_dead_runners(
            self._containers.client,
            own_id=runner_id,
            locks_dir=config.locks_dir,
            work_dir=config.work_dir,
        )
        for orphan in orphans:
            self._report_orphan(orphan, runner_id)

    def _report_orphan(self, orphan: Orphan, runner_id: str) -> None:
        """The dead runner's attempt failed: say so now rather than at its lease's end."""
        log.warning("removed the container of %s (runner %s died)", orphan, orphan.runner_id)
        self._reporter.report(
            StageFailed(
                run_id=orphan.run_id,
                stage=orphan.stage,
                attempt=orphan.attempt,
                occurred_at_ms=now_ms(),
                runner_id=orphan.runner_id,  # the claim's owner, so the decider accepts it
                failure_class=FailureClass.INFRASTRUCTURE,
                reason=f"runner {orphan.runner_id} died during the stage (seen by {runner_id})",
            )
        )

    def loop(self, stop: threading.Event, drain: threading.Event) -> None:
        pause = BUSY_PAUSE_S
        try:
            while not stop.is_set():
                if drain.is_set() and self._drained():
                    break
                pause = next_pause(pause, worked=self._turn())
                if self._wake.wait(pause):
                    self._wake.clear()
        finally:
            self._shutdown()

    def _drained(self) -> bool:
        """Drain: leave the feeding group now, take nothing more; True once every claimed
        or running attempt has finished."""
        if not self._draining:
            self._draining = True
            self._intake.close()
            log.info("draining: no new jobs; %d stage(s) to finish", self._busy())
        return self._busy() == 0  # as of the last turn, which forgot and started what it could

    def _turn(self) -> bool:
        """One turn; whether it did anything (fed, freed, started, claimed or cancelled)."""
        if self.status is not None:
            self.status.update(busy=self._busy(), draining=self._draining)
        fed = self._intake.feed() if not self._draining else 0
        freed = self._forget_finished()
        events = self._notices.read()
        gated = self._through_gate(events)
        taken = self._intake.take(self._slots - self._busy()) if not self._draining else []
        for job in taken:
            self._claim(job)
        notices = cancellations(events)
        for notice in notices:
            self._cancel(notice)
        self._heartbeats()
        self._export_slots()
        return bool(fed or freed or gated or taken or notices)

    def _busy(self) -> int:
        """Slots in use: attempts running, and claims waiting for the decider."""
        return len(self._active) + self._gate.held

    def _export_slots(self) -> None:
        busy = self._busy()
        RUNNER_SLOTS_BUSY.labels(self._runner_id).set(busy)
        RUNNER_SLOTS_FREE.labels(self._runner_id).set(self._slots - busy)

    def _image_warm(self, job: Job) -> bool | None:
        """Whether the job's image is on this host already; None for an image build."""
        if job.stage.build_image is not None or self._simulated:
            return None
        try:
            return self._containers.is_local(resolve_image(job.stage.image, job.commit_sha))
        except Exception:  # the claim must go out whatever the engine says
            return None

    def _claim(self, taken: Taken) -> None:
        """Claim a job taken from the queue; it starts once the decider accepts the claim."""
        try:
            job = decode_job(taken.message)
        except Exception:  # a malformed job must not stop the runner: skip it, loudly
            log.exception("skipping the undecodable job %s", taken.job_id)
            self._intake.hand_over(taken.job_id)
            return
        now = now_ms()
        try:
            self._reporter.report_acknowledged(
                StageClaimed(
                    run_id=job.run_id,
                    stage=job.stage.name,
                    attempt=job.attempt,
                    occurred_at_ms=now,
                    runner_id=self._deps.runner_id,
                    lease_deadline_ms=now + job.lease_ms,
                    image_warm=self._image_warm(job),
                )
            )
        except Exception:
            self._intake.release(taken.job_id)  # not claimed: another runner takes it
            raise
        self._intake.hand_over(taken.job_id)
        self._gate.hold(job, now)

    def _through_gate(self, events: list[bytes]) -> bool:
        """Start accepted claims, drop refused ones, cancel lost leases; whether any came."""
        news = self._gate.poll(now_ms(), [slot.key for slot in self._active.values()], events)
        for job in news.accepted:
            self._start(job)
        for refused in news.refused:
            log.warning(
                "the claim of %s was not accepted (%s): not run", refused.job.job_id, refused.reason
            )
        for slot in self._active.values():
            if slot.key in news.lost and not slot.cancelled:
                slot.cancelled = True
                slot.attempt.cancel(f"runner {self._runner_id} lost the lease of the attempt")
        return bool(news.accepted or news.refused or news.lost)

    def _start(self, job: Job) -> None:
        now = now_ms()
        attempt = (
            SimulatedAttempt(job, reporter=self._reporter, runner_id=self._runner_id)
            if self._simulated
            else Attempt(job, self._deps)
        )
        thread = threading.Thread(target=self._attempt, args=(job.job_id,), name=job.job_id)
        thread.daemon = True
        next_heartbeat = now + heartbeat_interval_ms(job.lease_ms)
        self._active[job.job_id] = _Slot(attempt, thread, now, next_heartbeat)
        thread.start()

    def _attempt(self, job_id: str) -> None:
        """An attempt's thread: run it, then wake the loop so its slot is filled at once."""
        slot = self._active[job_id]
        try:
            slot.attempt.run()
        finally:
            slot.done = True
            self._wake.set()

    def _cancel(self, notice: CancelNotice) -> None:
        for slot in self._active.values():
            job = slot.attempt.job
            if job.run_id != notice.run_id or slot.cancelled:
                continue
            if notice.stage is None or (notice.stage, notice.attempt) == (
                job.stage.name,
                job.attempt,
            ):
                slot.cancelled = True
                slot.attempt.cancel(notice.reason)

    def _heartbeats(self) -> None:
        now = now_ms()
        for slot in self._active.values():
            if now < slot.next_heartbeat_ms or slot.cancelled:
                continue
            job = slot.attempt.job
            timeout = job.stage.timeout_ms
            if not may_extend_lease(started_at_ms=slot.started_ms, now_ms=now, timeout_ms=timeout):
                continue  # stuck past its timeout: let the lease run out
            slot.next_heartbeat_ms = now + heartbeat_interval_ms(job.lease_ms)
            self._reporter.report(
                StageHeartbeat(
                    run_id=job.run_id,
                    stage=job.stage.name,
                    attempt=job.attempt,
                    occurred_at_ms=now,
                    runner_id=self._deps.runner_id,
                    lease_deadline_ms=now + job.lease_ms,
                )
            )

    def _report_unstarted(self, job: Job) -> None:
        """A claim still waiting for the decider when the runner stops: give the stage back."""
        self._reporter.report(
            StageFailed(
                run_id=job.run_id,
                stage=job.stage.name,
                attempt=job.attempt,
                occurred_at_ms=now_ms(),
                runner_id=self._runner_id,
                failure_class=FailureClass.INFRASTRUCTURE,
                reason=f"runner {self._runner_id} stopped before the stage started",
            )
        )

    def _forget_finished(self) -> int:
        finished = [j for j, s in self._active.items() if s.done]
        for job_id in finished:
            del self._active[job_id]
        return len(finished)

    def _shutdown(self) -> None:
        if self.status is not None:  # the stages about to be interrupted (0 after a drain)
            self.status.update(busy=len(self._active), draining=self._draining, force=True)
        for slot in self._active.values():
            slot.attempt.shutdown()
        for job in self._gate.release_all():
            self._report_unstarted(job)
        for slot in self._active.values():
            slot.thread.join(timeout=60)
        self._notices.close()
        if not self._draining:
            self._intake.close()
        self._reporter.close()
        self._containers.close()
        self._export_slots()  # then forget this runner's series: it is no longer alive
        RUNNER_SLOTS_BUSY.remove(self._runner_id)
        RUNNER_SLOTS_FREE.remove(self._runner_id)
