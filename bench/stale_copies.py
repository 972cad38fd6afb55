"""A fresh job queued behind stale copies of finished jobs — SIMULATED EXECUTOR.

A stale copy is a job whose attempt the decider will not accept any more: an old attempt
still queued after a person retried the stage, a job of a cancelled run, a duplicate. The
runner claims it, the decider refuses the claim, and the runner's slot is free again only
once the runner knows. This bench queues ``--stale`` such copies (attempt 2 of runs that
already succeeded) ahead of one fresh run on a single one-slot runner process, and measures
the fresh stage's queue time (``StageQueued`` → its accepted ``StageClaimed``), in two
rounds of the same run:

  * ``ClaimRefused``: the decider answers each refused claim on the runner's notices (HEAD);
  * ``no answer``: the decider's refusals switched off in this process, as before, so the
    runner waits out the claim gate's timeout (15 s) for each copy.

Beside the raw floor: one Kafka produce→consume round trip in the same run. The runner is a
real ``sluice runner`` process and the decider the real one (a thread here); stages only
sleep (the simulated executor), so no container runs.

Run: .venv/bin/python bench/stale_copies.py [--stale 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Message

from bench.job_queue import (
    Claims,
    Follower,
    now_ms,
    raw_round_trip,
    scratch_deployment,
    start_runners,
)
from orchestrator.domain.events import RunSucceeded, StageClaimed, StageQueued
from orchestrator.domain.jobs import Job, job_id
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority
from orchestrator.wire import decode_record, encode_event
from projections import decider as decider_module
from projections.decider import Decider
from runners.messages import encode
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings
from tests.support.jobs import a_job
from tests.support.runs import run_created

STAGE = StageSpec(name="s", script=("sleep 0",))


def claimed_before(claims: Claims, runs: set[str], at_ms: int) -> int:
    """How many of ``runs`` had their stale copy (attempt 2) claimed before ``at_ms``."""
    return sum(1 for r in runs if claims.at.get(job_id(r, STAGE.name, 2), at_ms) < at_ms)


class RunsLog:
    """Follows ``sluice.runs``: when each run's stage was queued and claimed, which ended."""

    def __init__(self, settings: ServiceSettings, topic: str) -> None:
        self.queued: dict[str, int] = {}
        self.claimed: dict[str, int] = {}
        self.succeeded: set[str] = set()
        self._follower = Follower(settings, topic, self._record)

    def _record(self, msg: Message) -> None:
        event = decode_record(msg.value() or b"")
        if isinstance(event, StageQueued):
            self.queued.setdefault(event.run_id, event.occurred_at_ms)
        elif isinstance(event, StageClaimed):
            self.claimed.setdefault(event.run_id, event.occurred_at_ms)
        elif isinstance(event, RunSucceeded):
            self.succeeded.add(event.run_id)

    def wait(self, what: str, done: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done <= self.succeeded:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: {len(done - self.succeeded)} runs did not end")
            time.sleep(0.05)

    def close(self) -> None:
        self._follower.close()


def stale_copy(run_id: str) -> Job:
    """Attempt 2 of a run whose stage succeeded at attempt 1: the decider refuses its claim."""
    return replace(a_job(STAGE, run_id=run_id, lease_ms=60_000, attempt=2), enqueued_at_ms=now_ms())


@contextmanager
def decider_running(settings: ServiceSettings, names: TopicNames) -> Iterator[None]:
    stop = threading.Event()
    decider = Decider(settings=settings, prefix=names.prefix, worker_id="bench")
    thread = threading.Thread(target=decider.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not decider.ready.is_set():
        if time.monotonic() > deadline:
            raise SystemExit("the decider did not own its partitions within 60 s")
        time.sleep(0.1)
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def one_round(
    settings: ServiceSettings, names: TopicNames, log: RunsLog, stale: int, *, refusals: bool
) -> tuple[float, set[str], int]:
    """Runs that succeed, then ``stale`` copies of their jobs, then a fresh run: the fresh
    stage's queue time in seconds, the runs copied, and when the fresh stage was claimed."""
    p = producer(settings)

    def create() -> str:
        created = run_created([STAGE], pipeline_id="bench")
        p.produce(names.inbox, encode_event(created), created.run_id.encode())
        return created.run_id

    finished = {create() for _ in range(stale)}
    p.flush(10)
    log.wait("the runs to copy", finished, 60)
    silenced = mock.patch.object(decider_module, "claim_refused", return_value=None)
    with nullcontext() if refusals else silenced:
        for run_id in sorted(finished):
            p.produce(names.job(Priority.NORMAL), encode(stale_copy(run_id)), run_id.encode())
        p.flush(10)
        fresh = create()  # its job comes from the decider: queued after the copies
        p.flush(10)
        log.wait("the fresh run", {fresh}, 30 + 20 * stale)
    return (log.claimed[fresh] - log.queued[fresh]) / 1000, finished, log.claimed[fresh]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stale", type=int, default=3, help="stale copies ahead of the job")
    args = parser.parse_args()
    print("SIMULATED EXECUTOR: stages only sleep (runners/simulated.py); no container runs.")
    with scratch_deployment("stale") as (settings, names, schema):
        floor = statistics.median(raw_round_trip(settings, names.triggers, 200))
        print(f"raw Kafka produce->consume round trip p50 {floor:.1f} ms")
        log, claims = RunsLog(settings, names.runs), Claims(settings, names.inbox)
        with tempfile.TemporaryDirectory() as tmp, decider_running(settings, names):
            procs = start_runners(names, Path(tmp), schema=schema, runners=1, slots=1)
            try:
                for refusals in (True, False):
                    waited, copied, claimed = one_round(
                        settings, names, log, args.stale, refusals=refusals
                    )
                    how = "ClaimRefused (HEAD)" if refusals else "no answer (before)"
                    print(
                        f"{how:<20} 1 runner x 1 slot, {args.stale} stale copies ahead"
                        f" ({claimed_before(claims, copied, claimed)} claimed before it):"
                        f" the fresh stage waited {waited:7.2f} s"
                        f" ({waited * 1000 / floor:,.0f}x the raw round trip)"
                    )
            finally:
                procs.stop_all(30)
                log.close()
                claims.close()


if __name__ == "__main__":
    main()
