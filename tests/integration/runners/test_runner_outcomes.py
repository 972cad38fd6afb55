"""A runner takes hand-made jobs and reports each outcome to the inbox, with its logs."""

from __future__ import annotations

from orchestrator.domain.events import (
    LogArchived,
    StageCancelled,
    StageClaimed,
    StageFailed,
    StageSucceeded,
)
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import Resources, StageSpec
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import FailureClass
from tests.integration.runners.conftest import Rig, TopicReader
from tests.support.waiting import eventually


def outcome(inbox: TopicReader, job: Job, timeout: float = 30) -> object:
    def probe() -> object:
        done = [
            e
            for e in inbox.read()
            if isinstance(e, StageSucceeded | StageFailed | StageCancelled)
            and e.run_id == job.run_id
        ]
        seen = [type(e).__name__ for e in inbox.records if e.run_id == job.run_id]
        assert done, f"no outcome of {job.job_id} yet; its events so far: {seen}"
        return done[0]

    return eventually(probe, timeout=timeout, what=f"the outcome of {job.job_id}")


def log_text(logs: TopicReader, job: Job) -> str:
    chunks = sorted(logs.of(LogChunk, run_id=job.run_id), key=lambda c: c.seq)
    return "".join(c.data for c in chunks)


def test_a_successful_stage_is_claimed_then_succeeds_with_its_output_logged(rig: Rig) -> None:
    inbox, logs = rig.read(rig.topics.inbox), rig.read(rig.topics.logs)
    runner_id = rig.start()
    job = rig.job(StageSpec(name="build", script=("cat /src/hello.txt", "id -u")))
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageSucceeded)
    [claimed] = inbox.of(StageClaimed, run_id=job.run_id)
    assert claimed.runner_id == runner_id
    assert claimed.image_warm in (True, False)  # known at the claim
    eventually(lambda: inbox.of(LogArchived, run_id=job.run_id), what="LogArchived")
    text = log_text(logs, job)
    assert "hello from the checkout\n65534\n" in text
    assert ("(warm: already on this host" in text) is claimed.image_warm


def test_a_failing_script_fails_the_stage_as_deterministic_with_its_exit_code(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    job = rig.job(StageSpec(name="test", script=("echo testing", "exit 3")))
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageFailed)
    assert (done.exit_code, done.failure_class) == (3, FailureClass.DETERMINISTIC)


def test_a_stage_over_its_timeout_is_killed_and_fails_as_timed_out(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    stage = StageSpec(name="slow", script=("sleep 60",), timeout_ms=1_000)
    job = rig.job(stage)
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageFailed)
    assert (done.failure_class, done.reason) == (FailureClass.DETERMINISTIC, "timed out after 1 s")


def test_a_stage_killed_for_memory_fails_as_infrastructure(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    hog = "head -c 400000000 /dev/zero | tail -n 1 > /dev/null"
    stage = StageSpec(name="hog", script=(hog,), resources=Resources(memory_bytes=64 * 1024**2))
    job = rig.job(stage)
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageFailed)
    assert done.failure_class == FailureClass.INFRASTRUCTURE


def test_a_cancelled_run_stops_its_stage_within_5_s_and_reports_it_cancelled(rig: Rig) -> None:
    inbox, logs = rig.read(rig.topics.inbox), rig.read(rig.topics.logs)
    runner = rig.start()
    job = rig.job(StageSpec(name="long", script=("echo started", "sleep 120")))
    rig.send(job)
    eventually(lambda: "started" in log_text(logs, job), timeout=30, what="the stage to start")
    rig.cancel_as_the_decider(job, runner, reason="cancelled by a person")
    done = outcome(inbox, job, timeout=5)
    assert isinstance(done, StageCancelled)
