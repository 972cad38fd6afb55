"""``sluice pool`` on real Kafka: a burst from the floor, scale-in by draining, and why.

The pool runs in a thread of the test (its runners are real ``sluice runner`` processes);
its stages run on the simulated executor (they sleep for their script's ``sleep N``), since
what is under test is the control plane: the queue watch, the policy, the processes and
their consumer group, and the events on ``sluice.fleet``. Windows are shortened for the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestrator.domain.events import StageClaimed, StageFailed, StageSucceeded
from orchestrator.domain.fleet import PoolScaleDecided, RunnerStarted, RunnerStopped
from orchestrator.domain.model import StageSpec
from runners.pool.fleetlog import read_fleet
from runners.pool.manager import PoolOptions, WorkerPool, load_config
from tests.integration.runners.conftest import Rig
from tests.support.claim_echo import ClaimEcho
from tests.support.waiting import eventually

CONFIG = """\
min_runners: 1
max_runners: 4
slots_per_runner: 2
idle_time: 2s
stabilization_window: 8s
max_step: 3
heartbeat_timeout: 15s
start_timeout: 90s
warm_images: false
periods:
  - name: base
    idle_slots: 0
    scale_factor: 1.0
"""
_MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class RunningPool:
    pool: WorkerPool
    thread: threading.Thread
    stop: threading.Event
    config_path: Path

    def fleet(self, rig: Rig) -> list[object]:
        return list(read_fleet(rig.settings, topic=rig.topics.fleet, pool="test"))

    def live(self) -> int:
        return len(self.pool._processes.live)


@pytest.fixture
def running_pool(
    rig: Rig, claim_echo: ClaimEcho, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningPool]:
    claim_echo.start()  # no decider here: claims are accepted as it would
    config_path = tmp_path / "pool.yaml"
    config_path.write_text(CONFIG)
    env = {
        "SLUICE_STATE_DIR": str(rig.config.state_dir),
        "SLUICE_SECRETS_KEY": rig.config.secrets_key or "",
        "SLUICE_PG_SCHEMA": rig.config.pg_schema,
        "SLUICE_KAFKA_BOOTSTRAP": rig.settings.kafka_bootstrap,
        "PYTHONPATH": os.getcwd(),
    }
    for name, value in env.items():  # the pool's runners inherit them; undone after the test
        monkeypatch.setenv(name, value)
    options = PoolOptions(
        name="test",
        config_path=config_path,
        prefix=rig.topics.prefix,
        work_dir=tmp_path / "pool",
        simulated=True,
        stop_timeout_s=120,
        pg_schema=rig.config.pg_schema,
    )
    pool = WorkerPool(rig.settings, options, config=load_config(config_path))
    stop = threading.Event()
    thread = threading.Thread(target=pool.run, args=(stop,), name="pool")
    thread.start()
    yield RunningPool(pool, thread, stop, config_path)
    stop.set()
    thread.join(timeout=180)


def _ready(pool: RunningPool) -> bool:
    views = [r.view() for r in pool.pool._processes.live.values()]
    return len(views) == 1 and views[0].last_seen_ms is not None


def test_a_burst_scales_up_then_drains_back_to_the_floor_interrupting_nothing(
    rig: Rig, running_pool: RunningPool
) -> None:
    inbox = rig.read(rig.topics.inbox)
    eventually(lambda: _ready(running_pool), timeout=90, what="the floor runner ready")
    long = rig.job(StageSpec(name="long", script=("sleep 90",)))
    rig.send(long)
    eventually(lambda: inbox.of(StageClaimed, run_id=long.run_id), timeout=30, what="long claim")
    burst = [rig.job(StageSpec(name=f"short-{i}", script=("sleep 1",))) for i in range(40)]
    sent_ms = time.time_ns() // 1_000_000
    for job in burst:
        rig.send(job)

    up = eventually(
        lambda: [
            e
            for e in running_pool.fleet(rig)
            if isinstance(e, PoolScaleDecided) and e.from_runners > 0  # not the start at 0
        ],
        timeout=30,
        what="a scale-up decision",
    )[0]
    assert (up.direction, up.from_runners) == ("up", 1)
    assert up.to_runners > 1 and int(up.inputs["queued"]) > 0  # on the burst's first jobs
    eventually(lambda: running_pool.live() == 4, timeout=60, what="max_runners reached")
    started = {  # by the burst's decisions, not the floor runner
        e.runner_id
        for e in running_pool.fleet(rig)
        if isinstance(e, RunnerStarted) and e.occurred_at_ms >= up.occurred_at_ms
    }
    new_claim = eventually(
        lambda: [
            c
            for c in inbox.of(StageClaimed)
            if c.runner_id in started and c.occurred_at_ms > up.occurred_at_ms
        ],
        timeout=60,
        what="a job on new capacity",
    )[0]
    print(
        f"\nscale-up decided {up.occurred_at_ms - sent_ms} ms after the burst was sent;"
        f" first job on new capacity {new_claim.occurred_at_ms - up.occurred_at_ms} ms later"
    )

    eventually(lambda: len(inbox.of(StageSucceeded)) >= 40, timeout=120, what="the burst done")
    eventually(lambda: running_pool.live() == 1, timeout=60, what="back at the floor")
    # A runner leaves the pool's live set a moment before its RunnerStopped is on the log.
    eventually(
        lambda: sum(isinstance(e, RunnerStopped) for e in running_pool.fleet(rig)) >= 3,
        timeout=10,
        what="three RunnerStopped",
    )
    fleet = running_pool.fleet(rig)
    downs = [e for e in fleet if isinstance(e, PoolScaleDecided) and e.direction == "down"]
    stopped = [e for e in fleet if isinstance(e, RunnerStopped)]
    assert downs and downs[0].occurred_at_ms - up.occurred_at_ms >= 8_000
    assert len(stopped) == 3 and all(e.interrupted == 0 for e in stopped)
    assert not inbox.of(StageSucceeded, run_id=long.run_id)  # still running during scale-in

    eventually(lambda: inbox.of(StageSucceeded, run_id=long.run_id), timeout=120, what="long")
    assert not inbox.of(StageFailed)
    succeeded = [(e.run_id, e.stage) for e in inbox.of(StageSucceeded)]
    assert set(succeeded) == {(j.run_id, j.stage.name) for j in [long, *burst]}  # none lost
    # A job whose partition moves in a rebalance between its claim and its offset commit is
    # run again by the partition's new owner: the intake's fencing is issue #13 item 1.
    print(f"jobs run twice during the rebalances: {len(succeeded) - len(set(succeeded))}")


def test_a_bad_config_edit_is_reported_and_changes_nothing(
    rig: Rig, running_pool: RunningPool
) -> None:
    eventually(lambda: _ready(running_pool), timeout=90, what="the floor runner ready")
    before = running_pool.pool.config
    running_pool.config_path.write_text(CONFIG.replace("max_runners: 4", "max_runners: many"))
    time.sleep(1.0)  # a few turns of the pool, each of which looks at the file

    assert running_pool.pool.config == before
    running_pool.config_path.write_text(CONFIG.replace("max_runners: 4", "max_runners: 6"))
    eventually(lambda: running_pool.pool.config.max_runners == 6, what="the good edit applied")


def test_pool_why_explains_each_decision(rig: Rig, running_pool: RunningPool) -> None:
    eventually(lambda: _ready(running_pool), timeout=90, what="the floor runner ready")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    args = ["pool", "why", "--name", "test", "--prefix", rig.topics.prefix]

    out = subprocess.run(
        [sys.executable, "-c", _MAIN, *args], env=env, capture_output=True, text=True, check=True
    ).stdout

    assert "up 0 -> 1" in out
    assert "why: 0 queued + 0 busy slot(s) x 1 + floor 0 (period 'base')" in out
    assert "saw: " in out and "queued.critical=0" in out
    assert "RunnerStarted runner-" in out and "(cold start)" in out


def test_pool_check_reports_every_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "pool.yaml"
    bad.write_text(
        CONFIG.replace("idle_time: 2s", "idle_time: soon").replace("max_step: 3", "max_stepz: 3")
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}

    done = subprocess.run(
        [sys.executable, "-c", _MAIN, "pool", "check", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 1
    assert f"{bad}:4: idle_time" in done.stderr
    assert f"{bad}:6: " in done.stderr and "max_stepz" in done.stderr


def test_an_unresponsive_runner_is_killed_and_replaced(rig: Rig, running_pool: RunningPool) -> None:
    eventually(lambda: _ready(running_pool), timeout=90, what="the floor runner ready")
    running_pool.config_path.write_text(
        CONFIG.replace("heartbeat_timeout: 15s", "heartbeat_timeout: 3s")
    )
    eventually(lambda: running_pool.pool.config.heartbeat_timeout_ms == 3_000, what="reload")
    [frozen] = list(running_pool.pool._processes.live.values())
    os.kill(frozen.pid, signal.SIGSTOP)  # alive, but its loop reports nothing

    def replaced() -> list[PoolScaleDecided]:
        return [
            e
            for e in running_pool.fleet(rig)
            if isinstance(e, PoolScaleDecided) and frozen.runner_id in e.killed
        ]

    [decision] = eventually(replaced, timeout=60, what="the kill decision")
    stopped = eventually(
        lambda: [
            e
            for e in running_pool.fleet(rig)
            if isinstance(e, RunnerStopped) and e.runner_id == frozen.runner_id
        ],
        timeout=30,
        what="its RunnerStopped",
    )
    assert (decision.direction, decision.from_runners, decision.to_runners) == ("up", 0, 1)
    assert stopped[0].reason.startswith("killed") and stopped[0].exit_code == -signal.SIGKILL
    eventually(lambda: _ready(running_pool), timeout=90, what="the replacement ready")


def test_the_pool_raises_its_floor_when_its_clock_crosses_eight_in_paris(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = tmp_path / "pool.yaml"
    config_path.write_text(
        CONFIG.replace("slots_per_runner: 2", "slots_per_runner: 1")
        + '  - name: office-hours\n    start: "0 8 * * mon-fri"\n    timezone: Europe/Paris\n'
        "    duration: 10h\n    idle_slots: 2\n"
    )
    paris_0759 = int(datetime(2026, 12, 7, 7, 59, 50, tzinfo=ZoneInfo("Europe/Paris")).timestamp())
    started = time.monotonic()

    def clock() -> int:  # Monday 07:59:50 in Paris when the test starts, then real time
        return paris_0759 * 1000 + int((time.monotonic() - started) * 1000)

    options = PoolOptions(
        name="test",
        config_path=config_path,
        prefix=rig.topics.prefix,
        work_dir=tmp_path / "pool",
        simulated=True,
        stop_timeout_s=60,
        pg_schema=rig.config.pg_schema,
    )
    monkeypatch.setenv("SLUICE_STATE_DIR", str(rig.config.state_dir))
    monkeypatch.setenv("PYTHONPATH", os.getcwd())
    monkeypatch.setenv("SLUICE_SECRETS_KEY", rig.config.secrets_key or "")
    pool = WorkerPool(rig.settings, options, config=load_config(config_path), clock=clock)
    stop = threading.Event()
    thread = threading.Thread(target=pool.run, args=(stop,))
    thread.start()
    try:
        decisions = eventually(
            lambda: [
                e
                for e in read_fleet(rig.settings, topic=rig.topics.fleet, pool="test")
                if isinstance(e, PoolScaleDecided) and e.inputs["period"] == "office-hours"
            ],
            timeout=60,
            what="the office-hours decision",
        )
    finally:
        stop.set()
        thread.join(timeout=120)
    first = decisions[0]
    assert first.occurred_at_ms >= (paris_0759 + 10) * 1000  # not before 08:00:00 in Paris
    assert (first.direction, first.to_runners) == ("up", 2)  # floor: 2 idle slots
    assert first.inputs["floor_idle_slots"] == "2"
