"""How fast ``sluice pool`` gets a new runner ready: forked from a warm interpreter, or cold.

A pool runner is ready when it first reports its slots (its status file): it has imported
its code, connected to Kafka and PostgreSQL and begun its loop. Measured here, alternating
the two ways :class:`runners.pool.processes.RunnerProcesses` can start one:

  * ``warm`` (what the pool does): forked from multiprocessing's forkserver, which imported
    the runner's code once;
  * ``cold``: ``python -c 'sluice runner …'``, a fresh interpreter that imports everything
    itself (how the pool started runners before session 29).

For each: start → ready, p50 and max, one runner at a time and a burst of ``--burst`` at
once (the pool's ``max_step``), and each runner's CPU until ready (from /proc). Beside them
the floor of each way measured in the same run: a process of that way that does nothing
(start → exit). The runners run the SIMULATED executor (they take no job here).

Run: .venv/bin/python bench/runner_start.py [--rounds 5] [--burst 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

# Only what the runners preload, at the top: a warm runner imports this file again (as
# multiprocessing does with a parent's main script), and should pay no more than the pool's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import cpu_ms
from runners.pool.processes import RunnerProcesses, pool_runner, runner_arguments
from runners.status import read_status

Way = Literal["cold", "warm"]
WAYS: tuple[Way, ...] = ("cold", "warm")
_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


class Starter(Protocol):
    def start_one(self) -> tuple[int, Path]: ...  # pid, status file

    def stop(self) -> None: ...


class WarmRunners:
    def __init__(self, work_dir: Path, prefix: str, env: dict[str, str]) -> None:
        self._procs = RunnerProcesses(work_dir=work_dir, prefix=prefix, simulated=True, env=env)

    def start_one(self) -> tuple[int, Path]:
        runner = self._procs.start(slots=2, now_ms=0)
        return runner.pid, runner.status_file

    def stop(self) -> None:
        self._procs.stop_all(30)


@dataclass
class ColdRunners:
    work_dir: Path
    prefix: str
    env: dict[str, str]
    live: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_one(self) -> tuple[int, Path]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        runner_id = f"runner-{uuid.uuid4().hex[:12]}"
        status = self.work_dir / f"{runner_id}.json"
        arguments = runner_arguments(
            pool_runner(
                runner_id=runner_id, slots=2, prefix=self.prefix, status_file=status, simulated=True
            )
        )
        with (self.work_dir / f"{runner_id}.log").open("wb") as out:
            command = [sys.executable, "-c", _MAIN, *arguments]
            process = subprocess.Popen(command, env=self.env, stdout=out, stderr=out)
        self.live.append(process)
        return process.pid, status

    def stop(self) -> None:
        for process in self.live:
            process.terminate()
        for process in self.live:
            process.wait(30)
        self.live.clear()


def _nothing() -> None:
    pass


def floor_ms(way: Way) -> float:
    """Start → exit of a process of this way that does nothing."""
    began = time.perf_counter()
    if way == "cold":
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    else:
        process = multiprocessing.get_context("forkserver").Process(target=_nothing)
        process.start()
        process.join()
        process.close()
    return (time.perf_counter() - began) * 1000


def ready_ms(starter: Starter, count: int) -> tuple[list[float], list[float]]:
    """Start ``count`` runners at once: each one's start → ready, and its CPU until then."""
    began = time.perf_counter()
    started = [starter.start_one() for _ in range(count)]
    waits: dict[int, float] = {}
    cpu: dict[int, float] = {}
    deadline = began + 120
    while len(waits) < count and time.perf_counter() < deadline:
        for pid, status in started:
            if pid not in waits and read_status(status) is not None:
                waits[pid] = (time.perf_counter() - began) * 1000
                cpu[pid] = cpu_ms(pid)
        time.sleep(0.005)
    starter.stop()
    if len(waits) < count:
        raise SystemExit(f"only {len(waits)} of {count} runners were ready within 120 s")
    return list(waits.values()), list(cpu.values())


def _line(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs):6.0f} ms  max {max(xs):6.0f} ms"


def main() -> None:
    from bench.job_queue import scratch_deployment  # noqa: PLC0415 (see the imports above)
    from tests.support.runner_env import runner_env  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=4)
    args = parser.parse_args()
    print("SIMULATED EXECUTOR: the runners run no stage here; what is timed is their start.")
    with scratch_deployment("brs") as (_, names, schema), tempfile.TemporaryDirectory() as tmp:
        env = runner_env(Path(tmp), SLUICE_PG_SCHEMA=schema, PYTHONPATH=os.getcwd())
        starters: dict[Way, Starter] = {
            "cold": ColdRunners(Path(tmp) / "cold", names.prefix, env),
            "warm": WarmRunners(Path(tmp) / "warm", names.prefix, env),
        }
        floors: dict[Way, list[float]] = {w: [] for w in WAYS}
        one: dict[Way, list[float]] = {w: [] for w in WAYS}
        burst: dict[Way, list[float]] = {w: [] for w in WAYS}
        cpu: dict[Way, list[float]] = {w: [] for w in WAYS}
        ready_ms(starters["warm"], 1)  # the forkserver's own start is not a runner's
        for _ in range(args.rounds):
            for way in WAYS:
                floors[way].append(floor_ms(way))
                waits, used = ready_ms(starters[way], 1)
                one[way] += waits
                cpu[way] += used
                waits, used = ready_ms(starters[way], args.burst)
                burst[way] += waits
                cpu[way] += used
        for way in WAYS:
            print(f"{way}:")
            rows = {
                "floor, a process that does nothing": floors[way],
                "one runner, start -> ready": one[way],
                f"{args.burst} at once, start -> ready each": burst[way],
                "a runner's CPU until ready": cpu[way],
            }
            for label, xs in rows.items():
                print(f"  {label + ':':<40}{_line(xs)}")


if __name__ == "__main__":
    main()
