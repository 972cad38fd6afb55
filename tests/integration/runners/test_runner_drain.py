"""Draining a runner (the pool's scale-in): no new job, the running stage finishes, it leaves.

The stages here run on the simulated executor (they sleep for their script's ``sleep N``);
what is under test is the runner's loop, its consumer group and its reports on real Kafka.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from orchestrator.domain.events import StageClaimed, StageFailed, StageSucceeded
from orchestrator.domain.model import StageSpec
from runners.main import run
from runners.status import read_status
from tests.integration.runners.conftest import Rig
from tests.support.claim_echo import ClaimEcho
from tests.support.waiting import eventually


def _start(
    rig: Rig, *, drain: threading.Event, status: Path, stop: threading.Event | None = None
) -> threading.Thread:
    thread = threading.Thread(
        target=run,
        args=(rig.settings,),
        kwargs={
            "prefix": rig.topics.prefix,
            "slots": 1,
            "runner_id": f"runner-{uuid.uuid4().hex[:8]}",
            "stop": stop or threading.Event(),
            "config": rig.config,
            "drain": drain,
            "status_file": status,
            "simulated": True,
        },
    )
    thread.start()
    return thread


def test_a_draining_runner_finishes_its_stage_takes_no_other_and_exits(
    rig: Rig, claim_echo: ClaimEcho, tmp_path: Path
) -> None:
    claim_echo.start()  # no decider here: claims are accepted as it would
    inbox = rig.read(rig.topics.inbox)
    drain = threading.Event()
    status = tmp_path / "runner.json"
    thread = _start(rig, drain=drain, status=status)
    long = rig.job(StageSpec(name="long", script=("sleep 4",)))
    rig.send(long)
    eventually(lambda: inbox.of(StageClaimed, run_id=long.run_id), timeout=30, what="claim")

    drain.set()
    later = rig.job(StageSpec(name="later", script=("sleep 0",)))
    rig.send(later)
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert inbox.of(StageSucceeded, run_id=long.run_id)
    assert not inbox.of(StageFailed)
    assert not inbox.of(StageClaimed, run_id=later.run_id)  # left for another runner
    final = read_status(status)
    assert final is not None and (final.busy, final.draining) == (0, True)


def test_the_job_a_draining_runner_left_is_taken_by_another_runner(
    rig: Rig, claim_echo: ClaimEcho, tmp_path: Path
) -> None:
    claim_echo.start()  # no decider here: claims are accepted as it would
    inbox = rig.read(rig.topics.inbox)
    drain = threading.Event()
    thread = _start(rig, drain=drain, status=tmp_path / "a.json")
    eventually(lambda: read_status(tmp_path / "a.json"), timeout=30, what="first status")
    drain.set()
    thread.join(timeout=60)
    job = rig.job(StageSpec(name="after", script=("sleep 0",)))
    rig.send(job)

    stop = threading.Event()
    other = _start(rig, drain=threading.Event(), status=tmp_path / "b.json", stop=stop)
    try:
        eventually(lambda: inbox.of(StageSucceeded, run_id=job.run_id), timeout=60, what="done")
    finally:
        stop.set()
        other.join(timeout=60)
    assert len(inbox.of(StageSucceeded, run_id=job.run_id)) == 1
