"""``sluice runner``: the loop that takes jobs into slots and keeps their leases alive.

One turn of the loop (every ~5 ms): poll the job consumers (at most one held message per
priority), fill free slots most urgent first — each job is claimed (``StageClaimed``
acknowledged by Kafka) before its offset is committed, so a job message is consumed at most
once and a crash after the claim is covered by the lease — then pass cancellations to
their attempts, send heartbeats that are due, and forget finished attempts. On stop, every
running attempt is stopped and reported as an infrastructure failure.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field, replace

from orchestrator.domain.events import StageClaimed, StageFailed, StageHeartbeat
from orchestrator.domain.images import resolve_image
from orchestrator.domain.jobs import Job
from orchestrator.domain.statuses import FailureClass
from runners.artifacts import MinioArtifactStore
from runners.attempt import Attempt, AttemptDeps, now_ms
from runners.cancels import CancelWatcher
from runners.config import RunnerConfig
from runners.executor import DockerContainers
from runners.history import TestHistory
from runners.imagebuild import ImageBuilder
from runners.intake import Offered, PriorityIntake
from runners.messages import CancelNotice, decode_job
from runners.reaper import Orphan, hold_runner_lock, reap_dead_runners
from runners.reporter import KafkaReporter
from runners.secrets import SecretStore, load_key
from runners.warm import start_warming
from schemas.eventlog import TopicNames
from schemas.metrics import RUNNER_SLOTS_BUSY, RUNNER_SLOTS_FREE
from schemas.settings import ServiceSettings

__all__ = ["heartbeat_interval_ms", "new_runner_id", "run"]

log = logging.getLogger("sluice.runner")
_TURN_S = 0.005
_MAX_HEARTBEAT_MS = 10_000


def new_runner_id() -> str:
    """A fresh runner id."""
    return f"runner-{uuid.uuid4().hex[:12]}"


def heartbeat_interval_ms(lease_ms: int) -> int:
    """How often an attempt's lease is extended: a third of it, at most every 10 s."""
    return max(min(lease_ms // 3, _MAX_HEARTBEAT_MS), 100)


@dataclass
class _Slot:
    attempt: Attempt
    thread: threading.Thread
    next_heartbeat_ms: int
    cancelled: bool = field(default=False)


def run(
    settings: ServiceSettings,
    *,
    prefix: str,
    slots: int,
    runner_id: str,
    stop: threading.Event,
    config: RunnerConfig | None = None,
) -> None:
    """Run jobs of the topics of ``prefix`` in ``slots`` parallel slots until ``stop`` is set."""
    config = config or replace(RunnerConfig.from_env(), key_prefix=prefix)
    lock = hold_runner_lock(config.locks_dir, runner_id)
    try:
        _Runner(settings, prefix=prefix, slots=slots, runner_id=runner_id, config=config).loop(stop)
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
    ) -> None:
        topics = TopicNames(prefix)
        self._reporter = KafkaReporter(settings, prefix=prefix)
        self._containers = _containers(settings, config, runner_id)
        self._deps = _attempt_deps(settings, config, self._containers, self._reporter)
        self._reap(config)
        if config.warm_images >= 0:
            start_warming(
                self._containers,
                dsn=settings.pg_dsn,
                schema=config.pg_schema,
                top=config.warm_images,
            )
        self._slots = slots
        self._runner_id = runner_id
        self._active: dict[str, _Slot] = {}
        self._intake = PriorityIntake(settings, topics=topics, group=f"{prefix}sluice-runners")
        self._cancels = CancelWatcher(settings, topics=topics, runner_id=runner_id)

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

    def loop(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self._turn()
                stop.wait(_TURN_S)
        finally:
            self._shutdown()

    def _turn(self) -> None:
        self._intake.poll()
        self._forget_finished()
        while len(self._active) < self._slots:
            offered = self._intake.take()
            if offered is None:
                break
            self._start(offered)
        runs = {slot.attempt.job.run_id for slot in self._active.values()}
        for notice in self._cancels.poll(runs) if runs else []:
            self._cancel(notice)
        self._heartbeats()
        self._export_slots()

    def _export_slots(self) -> None:
        busy = len(self._active)
        RUNNER_SLOTS_BUSY.labels(self._runner_id).set(busy)
        RUNNER_SLOTS_FREE.labels(self._runner_id).set(self._slots - busy)

    def _image_warm(self, job: Job) -> bool | None:
        """Whether the job's image is on this host already; None for an image build."""
        if job.stage.build_image is not None:
            return None
        try:
            return self._containers.is_local(resolve_image(job.stage.image, job.commit_sha))
        except Exception:  # the claim must go out whatever the engine says
            return None

    def _start(self, offered: Offered) -> None:
        try:
            job = decode_job(offered.message.value() or b"")
        except Exception:  # a malformed job must not stop the runner: skip it, loudly
            log.exception("skipping an undecodable job message at %s", _where(offered))
            self._intake.commit(offered)
            return
        now = now_ms()
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
        self._intake.commit(offered)
        attempt = Attempt(job, self._deps)
        thread = threading.Thread(target=attempt.run, name=job.job_id, daemon=True)
        self._active[job.job_id] = _Slot(attempt, thread, now + heartbeat_interval_ms(job.lease_ms))
        thread.start()

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

    def _forget_finished(self) -> None:
        for job_id in [j for j, slot in self._active.items() if not slot.thread.is_alive()]:
            del self._active[job_id]

    def _shutdown(self) -> None:
        for slot in self._active.values():
            slot.attempt.shutdown()
        for slot in self._active.values():
            slot.thread.join(timeout=60)
        self._intake.close()
        self._cancels.close()
        self._reporter.close()
        self._containers.close()
        self._export_slots()  # then forget this runner's series: it is no longer alive
        RUNNER_SLOTS_BUSY.remove(self._runner_id)
        RUNNER_SLOTS_FREE.remove(self._runner_id)


def _where(offered: Offered) -> str:
    msg = offered.message
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
