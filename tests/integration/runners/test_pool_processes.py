"""The pool's runner processes, forked from one forkserver for every pool of a process.

What a fork could get wrong that a fresh interpreter could not: the environment and the
command line are the forkserver's unless the runner takes its pool's. The runners run the
simulated executor and take no job here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from runners.pool.processes import RunnerProcess, RunnerProcesses
from runners.status import read_status
from tests.integration.runners.conftest import Rig
from tests.support.runner_env import runner_env
from tests.support.waiting import eventually


def _env(rig: Rig, state: Path) -> dict[str, str]:
    return runner_env(
        state,
        SLUICE_PG_SCHEMA=rig.config.pg_schema,
        SLUICE_KAFKA_BOOTSTRAP=rig.settings.kafka_bootstrap,
        PYTHONPATH=os.getcwd(),
    )


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def two_pools(rig: Rig, tmp_path: Path) -> Iterator[dict[str, RunnerProcesses]]:
    """Two pools in this process, each with a state directory of its own."""
    pools = {
        name: RunnerProcesses(
            work_dir=tmp_path / name / "pool",
            prefix=rig.topics.prefix,
            simulated=True,
            env=_env(rig, tmp_path / name / "state"),
        )
        for name in ("a", "b")
    }
    yield pools
    for pool in pools.values():
        pool.stop_all(30)


def _wait_ready(pool: RunnerProcesses, runner: RunnerProcess) -> None:
    def ready() -> bool:
        pool.refresh()
        return runner.status is not None

    eventually(ready, timeout=60, what=f"{runner.runner_id} ready")


def test_each_forked_runner_runs_in_its_own_pools_environment(
    two_pools: dict[str, RunnerProcesses], tmp_path: Path
) -> None:
    runners = {name: pool.start(slots=1, now_ms=0) for name, pool in two_pools.items()}
    for name, runner in runners.items():
        _wait_ready(two_pools[name], runner)
    for name, runner in runners.items():  # a runner holds its lock in its state directory
        lock = tmp_path / name / "state" / "runner" / "locks" / f"{runner.runner_id}.lock"
        assert lock.exists(), f"pool {name}'s runner did not use its pool's SLUICE_STATE_DIR"


def test_a_forked_runner_shows_its_own_command_line(
    two_pools: dict[str, RunnerProcesses],
) -> None:
    pool = two_pools["a"]
    runner = pool.start(slots=1, now_ms=0)
    _wait_ready(pool, runner)

    shown = Path(f"/proc/{runner.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert shown.startswith(f"sluice runner --runner-id {runner.runner_id} --slots 1")


def test_a_drained_runner_exits_zero_and_a_killed_one_by_its_signal(
    two_pools: dict[str, RunnerProcesses],
) -> None:
    pool = two_pools["a"]
    drained, killed = pool.start(slots=1, now_ms=0), pool.start(slots=1, now_ms=0)
    for runner in (drained, killed):
        _wait_ready(pool, runner)
    pool.drain([drained.runner_id])
    pool.kill([killed.runner_id])

    ended: dict[str, int] = {}

    def both_ended() -> bool:
        ended.update({e.runner.runner_id: e.exit_code for e in pool.reap()})
        return len(ended) == 2

    eventually(both_ended, timeout=60, what="both runners ended")
    assert ended == {drained.runner_id: 0, killed.runner_id: -9}
    assert not pool.live


def test_a_runner_drains_and_exits_when_its_pool_is_killed(rig: Rig, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tests.support.pool_child", str(tmp_path / "pool")]
    env = _env(rig, tmp_path / "state")
    runner = 0
    with subprocess.Popen([*command, rig.topics.prefix], env=env, stdout=subprocess.PIPE) as pool:
        try:
            assert pool.stdout is not None
            pid, path = pool.stdout.readline().split()
            runner, status_file = int(pid), Path(path.decode())
            eventually(lambda: read_status(status_file) is not None, timeout=60, what="ready")
            pool.kill()
            pool.wait(10)

            eventually(lambda: not _running(runner), timeout=60, what="the runner ended")
            last = read_status(status_file)
            assert last is not None and (last.draining, last.busy) == (True, 0)
        finally:
            pool.kill()
            if runner and _running(runner):
                with suppress(ProcessLookupError):
                    os.kill(runner, signal.SIGKILL)
