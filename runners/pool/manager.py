"""``sluice pool``: the worker manager's loop — observe, call the pure policy, act, record.

Each turn (on every new job, and at least every 250 ms): re-read the config file if it
changed (a bad file is reported and the old config kept), read the runners' status files,
record the runners that ended (``RunnerStopped``), snapshot the queues and the runners,
call :func:`~orchestrator.domain.pool_policy.plan`, and carry out what it decided:
``PoolScaleDecided`` first, then kill the unresponsive, drain (SIGTERM, ``RunnerDraining``)
and start (``RunnerStarted``, warm or cold). Every event is acknowledged by Kafka on
``sluice.fleet`` before the next step, so ``sluice pool why`` can explain what happened.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.fleet import (
    PoolScaleDecided,
    RunnerDraining,
    RunnerStarted,
    RunnerStopped,
)
from orchestrator.domain.pool_config import PoolConfig, PoolConfigInvalid, parse_pool_config
from orchestrator.domain.pool_policy import (
    PoolInputs,
    PoolMemory,
    RunnerPhase,
    ScaleDecision,
    plan,
)
from runners.pool.fleetlog import FleetLog
from runners.pool.processes import Ended, RunnerProcesses
from runners.pool.queue import QueueWatch
from runners.pool.warm import ImageWarmer, wanted_images
from schemas.eventlog import TopicNames
from schemas.metrics import (
    POOL_DECISIONS,
    POOL_DESIRED_RUNNERS,
    POOL_FLOOR_SLOTS,
    POOL_RUNNER_STARTS,
    POOL_RUNNERS,
    POOL_SLOTS,
    RUNNER_SLOTS_BUSY,
    RUNNER_SLOTS_FREE,
)
from schemas.settings import ServiceSettings

__all__ = ["PoolOptions", "WorkerPool", "load_config"]

log = logging.getLogger("sluice.pool")
_TURN_S = 0.25
_MIN_GAP_S = 0.05


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def load_config(path: Path) -> PoolConfig:
    """The pool config in ``path``; raises :class:`PoolConfigInvalid` (with every line)."""
    return parse_pool_config(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, kw_only=True)
class PoolOptions:
    """How one pool runs: its name, config file, topics and where its runners keep files."""

    name: str
    config_path: Path
    prefix: str
    work_dir: Path
    simulated: bool = False  # runners get the simulated executor (benchmarks only)
    pg_schema: str = "public"
    stop_timeout_s: float = 3_600.0  # how long a stopping pool lets its runners drain


class WorkerPool:
    """Keeps this host's runner processes between ``min_runners`` and ``max_runners``."""

    def __init__(
        self,
        settings: ServiceSettings,
        options: PoolOptions,
        *,
        config: PoolConfig,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        """Connect to Kafka (and the Docker engine to warm images); start nothing yet."""
        topics = TopicNames(options.prefix)
        self._settings = settings
        self._options = options
        self.config = config
        self._clock = clock
        self._memory = PoolMemory()
        self._config_mtime = _mtime(options.config_path)
        self._queue = QueueWatch(
            settings,
            topics=topics,
            group=f"{options.prefix}sluice-runners",
            schema=options.pg_schema,
        )
        self._fleet = FleetLog(settings, topic=topics.fleet, pool=options.name)
        self._processes = RunnerProcesses(
            work_dir=options.work_dir,
            prefix=options.prefix,
            simulated=options.simulated,
            env=_runner_env(os.environ, warm_here=config.warm_images),
        )
        self._warmer = self._make_warmer() if config.warm_images else None
        self.last_decision: ScaleDecision | None = None
        self._exported: set[str] = set()  # runners whose slot gauges this pool exports

    def _make_warmer(self) -> ImageWarmer:
        s, config = self._settings, self.config
        return ImageWarmer(
            docker_host=s.docker_host,
            registry=s.registry,
            images=lambda: wanted_images(
                dsn=s.pg_dsn, schema=self._options.pg_schema, top=config.warm_popular
            ),
            every_s=config.warm_every_ms / 1000,
        )

    def run(self, stop: threading.Event) -> None:
        """Turn until ``stop`` is set, then drain every runner and wait for them."""
        if self._warmer is not None:  # in the background: the floor never waits for a pull
            self._warmer.start()
        try:
            last = 0.0
            while not stop.is_set():
                self._queue.wait(_TURN_S)
                time.sleep(max(0.0, last + _MIN_GAP_S - time.monotonic()))
                last = time.monotonic()
                self.turn()
        finally:
            self._close()

    def turn(self) -> ScaleDecision:
        """One observe-decide-act step; the decision taken."""
        self._reload()
        self._processes.refresh()
        for ended in self._processes.reap():
            self._stopped(ended)
        now = self._clock()
        live = self._processes.live.values()
        inputs = PoolInputs(
            now_ms=now,
            queues=self._queue.views(now),
            runners=tuple(r.view() for r in live if not r.killed),
        )
        decision, self._memory = plan(self.config, self._memory, inputs)
        self._export(decision)
        if decision.changes_anything:
            self._act(decision, now)
        self.last_decision = decision
        return decision

    def _act(self, decision: ScaleDecision, now: int) -> None:
        decision_id = uuid.uuid4().hex[:12]
        self._fleet.append(
            PoolScaleDecided(
                pool=self._options.name,
                decision_id=decision_id,
                direction=decision.direction.value,
                from_runners=decision.from_runners,
                to_runners=decision.to_runners,
                reason=decision.reason,
                inputs=decision.inputs,
                drained=decision.drain,
                killed=decision.kill,
                occurred_at_ms=now,
            )
        )
        POOL_DECISIONS.labels(self._options.name, decision.direction.value).inc()
        log.info("%s %d -> %d: %s", decision.direction, decision.from_runners,
                 decision.to_runners, decision.reason)  # fmt: skip
        self._processes.kill(decision.kill)
        self._drain(decision, decision_id)
        for _ in range(decision.start):
            self._start(decision_id)

    def _drain(self, decision: ScaleDecision, decision_id: str) -> None:
        self._processes.drain(decision.drain)
        for rid in decision.drain:
            self._fleet.append(
                RunnerDraining(
                    pool=self._options.name,
                    runner_id=rid,
                    decision_id=decision_id,
                    reason="scale-in: idle for idle_time; finishes its stages, then exits",
                    occurred_at_ms=self._clock(),
                )
            )

    def _start(self, decision_id: str | None) -> None:
        warm = self._warmer.all_warm() if self._warmer is not None else False
        runner = self._processes.start(slots=self.config.slots_per_runner, now_ms=self._clock())
        POOL_RUNNER_STARTS.labels(self._options.name, "warm" if warm else "cold").inc()
        self._fleet.append(
            RunnerStarted(
                pool=self._options.name,
                runner_id=runner.runner_id,
                pid=runner.pid,
                slots=runner.slots,
                decision_id=decision_id,
                images_warm=warm,
                occurred_at_ms=self._clock(),
            )
        )

    def _stopped(self, ended: Ended) -> None:
        runner = ended.runner
        if runner.runner_id in self._exported:
            self._exported.discard(runner.runner_id)
            RUNNER_SLOTS_BUSY.remove(runner.runner_id)
            RUNNER_SLOTS_FREE.remove(runner.runner_id)
        if runner.killed:
            reason = "killed: no status report within heartbeat_timeout"
        elif runner.draining:
            reason = "drained: finished its stages and left"
        else:
            reason = f"exited on its own (status {ended.exit_code}); see {runner.runner_id}.log"
        self._fleet.append(
            RunnerStopped(
                pool=self._options.name,
                runner_id=runner.runner_id,
                interrupted=ended.interrupted,
                exit_code=ended.exit_code,
                reason=reason,
                occurred_at_ms=self._clock(),
            )
        )

    def _reload(self) -> None:
        """A changed config file is read again; a bad one is reported and changes nothing."""
        path = self._options.config_path
        mtime = _mtime(path)
        if mtime == self._config_mtime:
            return
        self._config_mtime = mtime
        try:
            config = load_config(path)
        except (OSError, PoolConfigInvalid) as e:
            detail = e.report(str(path)) if isinstance(e, PoolConfigInvalid) else str(e)
            log.error("the pool config did not change (the new file is bad):\n%s", detail)
            return
        log.info("pool config reloaded from %s", path)
        self.config = config

    def _export(self, decision: ScaleDecision) -> None:
        name, seen = self._options.name, decision.inputs
        POOL_DESIRED_RUNNERS.labels(name).set(decision.to_runners)
        POOL_FLOOR_SLOTS.labels(name).set(int(seen["floor_idle_slots"]))
        POOL_SLOTS.labels(name, "busy").set(int(seen["busy_slots"]))
        POOL_SLOTS.labels(name, "free").set(int(seen["free_slots"]))
        for phase in RunnerPhase:
            POOL_RUNNERS.labels(name, phase.value).set(int(seen[f"runners_{phase.value}"]))
        for runner in self._processes.live.values():  # its runners serve no /metrics of their own
            busy = 0 if runner.status is None else runner.status.busy
            RUNNER_SLOTS_BUSY.labels(runner.runner_id).set(busy)
            RUNNER_SLOTS_FREE.labels(runner.runner_id).set(runner.slots - busy)
            self._exported.add(runner.runner_id)

    def _close(self) -> None:
        if self._warmer is not None:
            self._warmer.stop()
        for ended in self._processes.stop_all(self._options.stop_timeout_s):
            self._stopped(ended)
        self._queue.close()
        self._fleet.close()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _runner_env(env: Mapping[str, str], *, warm_here: bool) -> dict[str, str]:
    """The runners' environment: the pool's, minus their own warming when the pool warms."""
    found = dict(env)
    if warm_here:
        found["SLUICE_WARM_IMAGES"] = "-1"
    return found
