"""The runner processes of a pool: start, drain (SIGTERM), kill, and notice their ends.

Each runner is ``sluice runner --drain-on-sigterm --status-file F`` (with the simulation flag
when the pool is started with it), its output in a log file beside its status file. Its
phase is *starting* until its first status report, then *ready*, and *draining* once it was
sent SIGTERM; :meth:`RunnerProcesses.reap` returns the runners whose process ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.domain.pool_policy import RunnerPhase, RunnerView
from runners.simulated import SIMULATION_FLAG
from runners.status import RunnerStatus, read_status

__all__ = ["Ended", "RunnerProcess", "RunnerProcesses", "runner_command"]

_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


def runner_command(
    *, runner_id: str, slots: int, prefix: str, status_file: Path, simulated: bool
) -> list[str]:
    """The command line of one pool runner (``sluice runner`` in this interpreter)."""
    command = [sys.executable, "-c", _MAIN, "runner", "--runner-id", runner_id]
    command += ["--slots", str(slots), "--prefix", prefix, "--metrics-port", "0"]
    command += ["--drain-on-sigterm", "--status-file", str(status_file)]
    return [*command, SIMULATION_FLAG] if simulated else command


@dataclass
class RunnerProcess:
    """One runner process and what it last said about itself."""

    runner_id: str
    process: subprocess.Popen[bytes]
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
        command = runner_command(
            runner_id=runner_id,
            slots=slots,
            prefix=self._prefix,
            status_file=status_file,
            simulated=self._simulated,
        )
        with (self._dir / f"{runner_id}.log").open("wb") as out:
            process = subprocess.Popen(
                command, env=self._env, stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd()
            )
        runner = RunnerProcess(runner_id, process, slots, now_ms, status_file)
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
            _signal(runner.process, signal.SIGTERM)

    def kill(self, runner_ids: Sequence[str]) -> None:
        """SIGKILL unresponsive runners (their stages are re-queued by their leases)."""
        for rid in runner_ids:
            runner = self.live[rid]
            runner.killed = True
            _signal(runner.process, signal.SIGKILL)

    def reap(self) -> list[Ended]:
        """The runners whose process ended since the last call."""
        ended = []
        for rid, runner in list(self.live.items()):
            code = runner.process.poll()
            if code is None:
                continue
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
            try:
                runner.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill([runner.runner_id])
                runner.process.wait(10)
        return self.reap()


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
