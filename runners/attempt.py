"""One stage attempt, from a claimed job to its outcome report.

Lifecycle: secrets (audited) → log → checkout → upstream artifacts → image → container →
wait (timeout / cancel / shutdown) → JUnit → artifacts → outcome → archived log. Whatever
happens, the container is removed (after the outcome is reported, to keep that fast) and
the workspace deleted. A ``DomainError`` fails the
stage as deterministic, an ``InfrastructureError`` as infrastructure; a cancel reports
``StageCancelled``; a runner shutdown fails the attempt as infrastructure.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypedDict

from orchestrator.domain.events import (
    ArtifactStored,
    ImageBuilt,
    LogArchived,
    RunEvent,
    StageCancelled,
    StageFailed,
    StageSucceeded,
)
from orchestrator.domain.images import resolve_image
from orchestrator.domain.jobs import Job
from orchestrator.domain.statuses import FailureClass, LogStream
from runners import inputs, workspace
from runners.artifacts import ArtifactStore, artifact_key, log_key
from runners.caches import CacheRun
from runners.classify import Exit, Verdict, classify, parse_report
from runners.config import RunnerConfig
from runners.executor import Containers, ContainerSpec, Running
from runners.history import AttemptRef, TestHistory, outcome_reports
from runners.imagebuild import BuildFailed, BuildRequest, BuildThread, BuiltImage, ImageBuilder
from runners.logstream import AttemptLog
from runners.reaper import Orphan, mark_attempt
from runners.reporter import Reporter
from runners.secrets import SecretStore
from schemas.errors import DomainError, InfrastructureError
from schemas.metrics import STAGE_START_SECONDS

__all__ = ["Attempt", "AttemptDeps", "now_ms"]

logger = logging.getLogger("sluice.runner")
_SLICE_S = 0.5
_MAX_JUNIT_BYTES = 32 * 1024 * 1024


def now_ms() -> int:
    """Wall-clock milliseconds: events carry time as data."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, kw_only=True)
class AttemptDeps:
    """What every attempt of one runner shares."""

    runner_id: str
    config: RunnerConfig
    containers: Containers
    store: ArtifactStore
    secrets: SecretStore
    history: TestHistory
    reporter: Reporter
    images: Callable[[], ImageBuilder] | None = None  # image build stages; None: refused
    clock: Callable[[], int] = now_ms


@dataclass(frozen=True, slots=True)
class _Result:
    verdict: Verdict | None  # None: stopped (cancel or shutdown)
    exit_code: int | None = None


class _Ids(TypedDict):
    run_id: str
    stage: str
    attempt: int
    occurred_at_ms: int


class _Stopped(Exception):
    """The attempt was cancelled or the runner is shutting down."""


class Attempt:
    """Runs one claimed job; :meth:`cancel` and :meth:`shutdown` may come from other threads."""

    def __init__(self, job: Job, deps: AttemptDeps) -> None:
        """Prepare to run ``job`` (nothing happens until :meth:`run`)."""
        self.job = job
        self._deps = deps
        self._stop_reason: str | None = None
        self._shutdown = False
        self._running: Running | None = None
        self._exited = False
        self._log: AttemptLog | None = None
        self._lock = threading.Lock()
        self._started_ms = deps.clock()

    def cancel(self, reason: str) -> None:
        """Stop the container now and report the attempt cancelled."""
        self._stop(reason or "cancelled")

    def shutdown(self) -> None:
        """The runner is stopping: stop the container, report an infrastructure failure."""
        self._shutdown = True
        self._stop("the runner shut down during the stage")

    def run(self) -> None:
        """Do the whole attempt and report its outcome."""
        deps = self._deps
        job = self.job
        try:
            ws = workspace.prepare(deps.config.work_dir / deps.runner_id, _dir_name(job))
            mark_attempt(ws.root, Orphan(deps.runner_id, job.run_id, job.stage.name, job.attempt))
        except OSError as e:  # e.g. the disk is full
            infra = FailureClass.INFRASTRUCTURE
            reason = f"cannot prepare the workspace: {e}"
            self._finish(_Result(Verdict(succeeded=False, failure_class=infra, reason=reason)))
            return
        try:
            result = self._guarded(ws)
            self._finish(result)
        finally:
            self._remove_container()  # after the report: off the stage's critical path
            workspace.remove(ws)

    def _stop(self, reason: str) -> None:
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            running = self._running
        if running is not None:
            running.kill()

    def _guarded(self, ws: workspace.Workspace) -> _Result:
        try:
            return self._execute(ws)
        except _Stopped:
            return _Result(None)
        except DomainError as e:
            return _Result(Verdict(succeeded=False, reason=str(e)))
        except (InfrastructureError, OSError) as e:
            infra = FailureClass.INFRASTRUCTURE
            return _Result(Verdict(succeeded=False, failure_class=infra, reason=str(e)))
        except Exception as e:  # a runner bug must still end the attempt with a report
            logger.exception("attempt %s failed inside the runner", self.job.job_id)
            infra = FailureClass.INFRASTRUCTURE
            reason = f"runner error: {type(e).__name__}: {e}"
            return _Result(Verdict(succeeded=False, failure_class=infra, reason=reason))
        finally:
            self._drain()

    def _drain(self) -> None:
        """Stop the container if it still runs, and wait until its output is all read."""
        with self._lock:
            running = self._running
        if running is not None:
            if not self._exited:
                running.kill()
            running.drain()

    def _remove_container(self) -> None:
        with self._lock:
            running, self._running = self._running, None
        if running is not None:
            running.remove()

    def _execute(self, ws: workspace.Workspace) -> _Result:
        job, deps = self.job, self._deps
        values = inputs.read_secrets(job, deps.secrets, self._audit_context())
        log = self._open_log(values.values(), ws)
        log.system(f"runner {deps.runner_id}: stage {job.stage.name}, attempt {job.attempt}")
        workspace.checkout(ws, repo_url=job.repo_url, commit_sha=job.commit_sha)
        fetched = inputs.fetch_upstream(job, deps.store, ws, key_prefix=deps.config.key_prefix)
        if fetched:
            log.system(f"artifacts of {', '.join(fetched)} unpacked into /workspace")
        if inputs.deprecated_network_variable(job):
            log.system("SLUICE_NETWORK is deprecated: write network: true on the stage")
        if job.stage.build_image is not None:
            return self._build_image(ws, log, values)
        cache = self._cache()
        if cache is not None:
            cache.restore(ws.src, ws.work, log.system)
        workspace.hand_over(ws, deps.config.container_user)
        end = self._tests(self._wait(self._start_stage(ws, log, values)), ws)
        verdict = classify(end)
        if verdict.succeeded and cache is not None:
            cache.save(ws.src, ws.work, log.system)
        if verdict.succeeded and job.stage.artifacts is not None:
            self._store_artifacts(ws, log)
        return _Result(verdict, end.exit_code)

    def _start_stage(
        self, ws: workspace.Workspace, log: AttemptLog, secrets: dict[str, str]
    ) -> Running:
        """Pull the stage's image (saying whether it was warm) and start its container."""
        job, deps = self.job, self._deps
        wanted = resolve_image(job.stage.image, job.commit_sha)
        warm, asked = deps.containers.is_local(wanted), time.monotonic()
        image = deps.containers.pull(wanted)
        how = "warm: already on this host" if warm else "cold: pulled"
        log.system(f"image {image} ({how} in {(time.monotonic() - asked) * 1000:.0f} ms)")
        env = {**inputs.base_env(job), **secrets}
        spec = inputs.container_spec(job, image=image, ws=ws, env=env, config=deps.config)
        running = self._start(spec, log)
        STAGE_START_SECONDS.labels("warm" if warm else "cold").observe(time.monotonic() - asked)
        return running

    def _cache(self) -> CacheRun | None:
        if self.job.stage.cache is None:
            return None
        config = self._deps.config
        return CacheRun(
            store=self._deps.store,
            job=self.job,
            key_prefix=config.key_prefix,
            max_bytes=config.cache_max_bytes,
            expiry_s=config.cache_expiry_s,
        )

    def _build_image(
        self, ws: workspace.Workspace, log: AttemptLog, secrets: dict[str, str]
    ) -> _Result:
        spec = self.job.stage.build_image
        assert spec is not None
        if self._deps.images is None:
            raise BuildFailed("this runner cannot build images")
        request = self._build_request(ws, secrets)
        builder = self._deps.images()
        log.system(f"building {spec.dockerfile} in {spec.context} as {spec.name}")
        say = lambda text: log.write(LogStream.STDOUT, f"{text}\n".encode())  # noqa: E731
        thread = BuildThread(lambda: builder.build(request, ws.root / "Dockerfile.sluice", say))
        end = self._await_build(thread, builder)
        if end is not None:
            return _Result(classify(end))
        if thread.error is not None:
            raise thread.error
        assert thread.result is not None
        self._report_image(spec.name, thread.result, log)
        return _Result(Verdict(succeeded=True), 0)

    def _build_request(self, ws: workspace.Workspace, secrets: dict[str, str]) -> BuildRequest:
        job = self.job
        spec = job.stage.build_image
        assert spec is not None
        context = ws.src / spec.context
        dockerfile = context / spec.dockerfile
        if not dockerfile.is_file():
            raise BuildFailed(
                f"no Dockerfile at {spec.context}/{spec.dockerfile} in the repository"
            )
        return BuildRequest(
            context=context,
            dockerfile=dockerfile,
            name=spec.name,
            commit_sha=job.commit_sha,
            branch=job.branch,
            build_args=inputs.build_args(spec.build_args, secrets),
        )

    def _await_build(self, thread: BuildThread, builder: ImageBuilder) -> Exit | None:
        """Wait for the build; an Exit when it timed out, _Stopped when cancelled."""
        timeout_ms = self.job.stage.timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        thread.start()
        while thread.is_alive():
            if self._stop_reason is not None:
                builder.abandon()
                raise _Stopped
            if time.monotonic() >= deadline:
                builder.abandon()
                return Exit(exit_code=None, timed_out_after_ms=timeout_ms)
            thread.join(_SLICE_S)
        return None

    def _report_image(self, name: str, built: BuiltImage, log: AttemptLog) -> None:
        log.system(f"image built: {built.tag} ({built.digest}, {built.size_bytes} bytes)")
        self._deps.reporter.report(
            ImageBuilt(
                **self._ids(self._deps.clock()),
                name=name,
                tag=built.tag,
                digest=built.digest,
                size_bytes=built.size_bytes,
            )
        )

    def _start(self, spec: ContainerSpec, log: AttemptLog) -> Running:
        with self._lock:
            if self._stop_reason is not None:
                raise _Stopped
            self._running = self._deps.containers.start(spec, log.write)
            return self._running

    def _wait(self, running: Running) -> Exit:
        timeout_ms = self.job.stage.timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self._stop_reason is not None:
                running.kill()
                raise _Stopped
            left = deadline - time.monotonic()
            if left <= 0:
                running.kill()
                return Exit(exit_code=None, timed_out_after_ms=timeout_ms)
            ended = running.wait(min(_SLICE_S, left))
            if ended is not None:
                self._exited = True
                if self._stop_reason is not None:
                    raise _Stopped
                return Exit(exit_code=ended.exit_code, oom_killed=ended.oom_killed)

    def _tests(self, end: Exit, ws: workspace.Workspace) -> Exit:
        report = self.job.stage.junit_report
        path = ws.work / report if report else None
        if path is None or not path.is_file() or path.stat().st_size > _MAX_JUNIT_BYTES:
            return end
        results = parse_report(path.read_bytes())
        job, deps = self.job, self._deps
        ref = AttemptRef(job.pipeline_id, job.run_id, job.stage.name, job.attempt)
        written = None
        for outcomes in outcome_reports(ref, job.commit_sha, results, deps.clock()):
            written = deps.reporter.tests(outcomes)  # acknowledged: the history is the log
        before, known = deps.history.context(ref, results.failed, after=written)
        return dataclasses.replace(end, junit=results, passed_before=before, known_flaky=known)

    def _store_artifacts(self, ws: workspace.Workspace, log: AttemptLog) -> None:
        job, deps = self.job, self._deps
        spec = job.stage.artifacts
        assert spec is not None
        key = artifact_key(deps.config.key_prefix, job.run_id, job.stage.name, job.attempt)
        stored = deps.store.upload_paths(
            root=ws.work, paths=spec.paths, key=key, max_bytes=deps.config.artifact_max_bytes
        )
        if stored is None:
            log.system(f"no artifact: none of {', '.join(spec.paths)} exists in /workspace")
            return
        log.system(f"artifact stored: {stored.storage_path} ({stored.size_bytes} bytes)")
        now = deps.clock()
        deps.reporter.report(
            ArtifactStored(
                **self._ids(now),
                artifact_id=str(uuid.uuid4()),
                name=job.stage.name,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                storage_path=stored.storage_path,
                expires_at_ms=now + spec.expire_in_ms,
            )
        )

    def _finish(self, result: _Result) -> None:
        log = self._log or self._open_log((), None)
        outcome = self._outcome(result)
        log.system(_describe(outcome))
        log.close()
        self._deps.reporter.report(outcome)
        self._archive(log)

    def _outcome(self, result: _Result) -> RunEvent:
        ids = self._ids(self._deps.clock())
        runner_id = self._deps.runner_id
        verdict = result.verdict
        if verdict is None and not self._shutdown:
            return StageCancelled(**ids, reason=self._stop_reason or "cancelled")
        if verdict is None:
            infra = FailureClass.INFRASTRUCTURE
            reason = self._stop_reason or "stopped"
            return StageFailed(**ids, runner_id=runner_id, failure_class=infra, reason=reason)
        if verdict.succeeded:
            duration = ids["occurred_at_ms"] - self._started_ms
            return StageSucceeded(**ids, runner_id=runner_id, duration_ms=max(duration, 0))
        return StageFailed(
            **ids,
            runner_id=runner_id,
            exit_code=result.exit_code,
            failure_class=verdict.failure_class,
            reason=verdict.reason,
        )

    def _archive(self, log: AttemptLog) -> None:
        job, deps = self.job, self._deps
        key = log_key(deps.config.key_prefix, job.run_id, job.stage.name, job.attempt)
        try:
            stored = deps.store.put_log(source=log.archive_path, key=key)
        except InfrastructureError:
            return  # the chunks are on sluice.logs; losing the archive must not lose the result
        deps.reporter.report(
            LogArchived(
                **self._ids(deps.clock()),
                storage_path=stored.storage_path,
                size_bytes=stored.size_bytes,
                lines=log.lines,
            )
        )

    def _open_log(self, secrets: Iterable[str], ws: workspace.Workspace | None) -> AttemptLog:
        job = self.job
        base = ws.root if ws is not None else self._deps.config.work_dir
        base.mkdir(parents=True, exist_ok=True)
        self._log = AttemptLog(
            run_id=job.run_id,
            stage=job.stage.name,
            attempt=job.attempt,
            secrets=secrets,
            send=self._deps.reporter.log,
            archive=base / f"{_dir_name(job)}.log.gz",
        )
        return self._log

    def _audit_context(self) -> inputs.AuditContext:
        deps = self._deps
        return inputs.AuditContext(f"runner:{deps.runner_id}", deps.reporter.audit, deps.clock)

    def _ids(self, now: int) -> _Ids:
        job = self.job
        return _Ids(
            run_id=job.run_id, stage=job.stage.name, attempt=job.attempt, occurred_at_ms=now
        )


def _describe(outcome: RunEvent) -> str:
    if isinstance(outcome, StageSucceeded):
        return "stage succeeded"
    if isinstance(outcome, StageFailed):
        return f"stage failed ({outcome.failure_class}): {outcome.reason}"
    if isinstance(outcome, StageCancelled):
        return f"stage cancelled: {outcome.reason}"
    return type(outcome).__name__


def _dir_name(job: Job) -> str:
    return f"{job.run_id}-{job.stage.name}-{job.attempt}".replace("/", "_")
