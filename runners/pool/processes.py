"""The runner processes of a pool: start, drain (SIGTERM), kill, and notice their ends.

Each runner is what ``sluice runner --drain-on-sigterm --status-file F`` runs (with the
simulation flag when the pool is started with it), its output in a log file beside its
status file. Its phase is *starting* until its first status report, then *ready*, and
*draining* once it was sent SIGTERM; :meth:`RunnerProcesses.reap` returns the runners whose
process ended.

Runners are forked from a warm interpreter: :mod:`multiprocessing`'s forkserver, a fresh
process (started by exec, so it shares none of the pool's threads or Kafka clients) that
has imported the runner's code once. A fork of it skips the second or so of CPU each new
Python process spends importing librdkafka, psycopg, docker and minio before it can take a
job, which is most of a cold runner's start when the machine is busy (bench/runner_start.py).
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

from setproctitle import setproctitle

from orchestrator.domain.pool_policy import RunnerPhase, RunnerView
from runners.process import RunnerOptions, serve
from runners.simulated import SIMULATION_FLAG
from runners.status import RunnerStatus, read_status

__all__ = ["Ended", "RunnerProcess", "RunnerProcesses", "pool_runner", "runner_arguments"]

# What a runner imports before it takes a job; the forkserver imports it once for them all.
_PRELOAD = ["runners.pool.processes", "runners.process", "runners.main"]


def pool_runner(
    *, runner_id: str, slots: int, prefix: str, status_file: Path, simulated: bool
) -> RunnerOptions:
    """The options of one pool runner: no /metrics of its own, SIGTERM drains."""
    return RunnerOptions(
        slots=slots,
        runner_id=runner_id,
        prefix=prefix,
        metrics_port=0,
        drain_on_sigterm=True,
        status_file=status_file,
        simulated=simulated,
    )


def runner_arguments(options: RunnerOptions) -> list[str]:
    """The ``sluice`` arguments that run a runner with ``options`` (a forked runner shows
    them as its command line)."""
    arguments = ["runner"]
    arguments += [] if options.runner_id is None else ["--runner-id", options.runner_id]
    arguments += ["--slots", str(options.slots)]
    arguments += [] if options.prefix is None else ["--prefix", options.prefix]
    arguments += ["--metrics-port", str(options.metrics_port)]
    arguments += ["--drain-on-sigterm"] if options.drain_on_sigterm else []
    arguments += [] if options.status_file is None else ["--status-file", str(options.status_file)]
    return [*arguments, SIMULATION_FLAG] if options.simulated else arguments


def _run_runner(options: RunnerOptions, env: dict[str, str], cwd: str, log: str, pool: int) -> None:
    """A forked runner's body: its output to ``log``, its pool's environment, then its loop
    until drained, by its pool or by the end of its pool (pid ``pool``)."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    drain = threading.Event()
    if not _drains_when_the_pool_ends(pool, options, drain):
        print(f"sluice runner {options.runner_id}: its pool (pid {pool}) has ended; not started")
        sys.exit(0)
    # Else ps (and bench/cpu.py) would show the forkserver's command line for every runner;
    # before the environment changes: setproctitle finds its room in argv's and environ's.
    setproctitle(" ".join(["sluice", *runner_arguments(options)]))
    # The forkserver outlives one pool's environment (a test may start several pools).
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.exit(serve(options, drain))


def _drains_when_the_pool_ends(pool: int, options: RunnerOptions, drain: threading.Event) -> bool:
    """Set ``drain`` once process ``pool`` has ended, by SIGKILL too: no runner is left taking
    jobs that no pool counts or scales in, and none is interrupted (its stages finish; a
    second SIGTERM would stop it). False if the pool has ended already.

    A pidfd, not the forkserver's end (PR_SET_PDEATHSIG): every process forked from the
    forkserver holds the pipe that keeps it running, so it outlives its pool while runners
    live."""
    try:
        ended = os.pidfd_open(pool)
    except ProcessLookupError:
        return False

    def watch() -> None:
        select.select([ended], [], [])  # readable once the process has ended
        os.close(ended)
        print(
            f"sluice runner {options.runner_id}: its pool (pid {pool}) ended; draining", flush=True
        )
        drain.set()

    threading.Thread(target=watch, name="pool-watch", daemon=True).start()
    return True


@dataclass
class RunnerProcess:
    """One runner process and what it last said about itself."""

    runner_id: str
    process: BaseProcess
    pid: int
    slots: int
    started_at_ms: int
    status_file: Path
    draining: bool = False
    killed: bool = False
    status: RunnerStatus | None = field(default=None)

    def view(self) -> RunnerView:
        """How the policy sees this runner."""
        status = self.status
        if self.draining:
            phase = RunnerPhase.DRAINING
        else:
            phase = RunnerPhase.STARTING if status is None else RunnerPhase.READY
        return RunnerView(
            runner_id=self.runner_id,
            phase=phase,
            slots=self.slots,
            busy=0 if status is None else status.busy,
            started_at_ms=self.started_at_ms,
            last_seen_ms=None if status is None else status.at_ms,
            idle_since_ms=None if status is None else status.idle_since_ms,
        )


@dataclass(frozen=True, slots=True)
class Ended:
    """A runner whose process ended: its exit status and the stages it was running."""

    runner: RunnerProcess
    exit_code: int
    interrupted: int


class RunnerProcesses:
    """The live runner processes of one pool, on this host."""

    def __init__(
        self,
        *,
        work_dir: Path,
        prefix: str,
        simulated: bool,
        env: Mapping[str, str],
    ) -> None:
        """Runners keep their status and log files under ``work_dir``."""
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._dir = work_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._prefix = prefix
        self._simulated = simulated
        self._env = dict(env)
        self.live: dict[str, RunnerProcess] = {}

    def start(self, *, slots: int, now_ms: int) -> RunnerProcess:
        """Start one runner process."""
        runner_id = f"runner-{uuid.uuid4().hex[:12]}"
        status_file = self._dir / f"{runner_id}.json"
        options = pool_runner(
            runner_id=runner_id,
            slots=slots,
            prefix=self._prefix,
            status_file=status_file,
            simulated=self._simulated,
        )
        log = str(self._dir / f"{runner_id}.log")
        process = self._context.Process(
            target=_run_runner,
            args=(options, self._env, os.getcwd(), log, os.getpid()),
            name=runner_id,
        )
        process.start()
        assert process.pid is not None  # set by start()
        runner = RunnerProcess(runner_id, process, process.pid, slots, now_ms, status_file)
        self.live[runner_id] = runner
        return runner

    def refresh(self) -> None:
        """Read every live runner's status file."""
        for runner in self.live.values():
            status = read_status(runner.status_file)
            if status is not None:
                runner.status = status

    def drain(self, runner_ids: Sequence[str]) -> None:
        """SIGTERM: each runner takes no new job, finishes its stages, then exits."""
        for rid in runner_ids:
            runner = self.live[rid]
            runner.draining = True
            _signal(runner, signal.SIGTERM)

    def kill(self, runner_ids: Sequence[str]) -> None:
        """SIGKILL unresponsive runners (their stages are re-queued by their leases)."""
        for rid in runner_ids:
            runner = self.live[rid]
            runner.killed = True
            _signal(runner, signal.SIGKILL)

    def reap(self) -> list[Ended]:
        """The runners whose process ended since the last call."""
        ended = []
        for rid, runner in list(self.live.items()):
            code = runner.process.exitcode
            if code is None:
                continue
            runner.process.close()
            del self.live[rid]
            runner.status = read_status(runner.status_file) or runner.status
            busy = 0 if runner.status is None else runner.status.busy
            ended.append(Ended(runner, code, busy))
            runner.status_file.unlink(missing_ok=True)
        return ended

    def stop_all(self, timeout_s: float) -> list[Ended]:
        """Drain every runner and wait up to ``timeout_s`` for each; kill what remains."""
        self.drain([rid for rid, r in self.live.items() if not r.draining])
        for runner in list(self.live.values()):
            runner.process.join(timeout_s)
            if runner.process.exitcode is None:
                self.kill([runner.runner_id])
                runner.process.join(10)
        return self.reap()


def _signal(runner: RunnerProcess, sig: signal.Signals) -> None:
    if runner.process.exitcode is None:
        os.kill(runner.pid, sig)
