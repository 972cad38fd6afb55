"""Artifacts: streamed to MinIO with a checksum, passed to later stages, size-limited."""

from __future__ import annotations

import dataclasses
import resource
from typing import Any

from orchestrator.domain.events import ArtifactStored, StageFailed, StageSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import ArtifactSpec, StageSpec
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import FailureClass
from tests.integration.runners.conftest import Rig, TopicReader
from tests.support.waiting import eventually

MiB = 1024 * 1024


def finished(inbox: TopicReader, job: Job, timeout: float = 30) -> Any:
    def probe() -> Any:
        done = [
            e
            for e in inbox.read()
            if isinstance(e, StageSucceeded | StageFailed)
            and e.run_id == job.run_id
            and e.stage == job.stage.name
        ]
        return done[0] if done else None

    return eventually(probe, timeout=timeout, what=f"the outcome of {job.job_id}")


def test_a_later_stage_finds_the_artifact_of_the_stage_it_needs_in_its_workspace(
    rig: Rig,
) -> None:
    inbox, logs = rig.read(rig.topics.inbox), rig.read(rig.topics.logs)
    rig.start()
    build = rig.job(
        StageSpec(
            name="build",
            script=("mkdir dist", "echo built-bytes > dist/app.txt"),
            artifacts=ArtifactSpec(paths=("dist/",)),
        )
    )
    rig.send(build)
    assert isinstance(finished(inbox, build), StageSucceeded)
    [stored] = inbox.of(ArtifactStored, run_id=build.run_id)
    assert (stored.name, len(stored.sha256)) == ("build", 64)
    test = dataclasses.replace(
        rig.job(StageSpec(name="test", script=("cat dist/app.txt",)), run_id=build.run_id),
        upstream_stages=("build",),
    )
    rig.send(test)
    assert isinstance(finished(inbox, test), StageSucceeded)
    text = "".join(c.data for c in logs.of(LogChunk, run_id=test.run_id, stage="test"))
    assert "built-bytes" in text


def test_an_artifact_over_the_size_limit_fails_the_stage_saying_so(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start(config=dataclasses.replace(rig.config, artifact_max_bytes=1 * MiB))
    stage = StageSpec(
        name="big",
        script=("head -c 3000000 /dev/zero > blob",),
        artifacts=ArtifactSpec(paths=("blob",)),
    )
    job = rig.job(stage)
    rig.send(job)
    done = finished(inbox, job)
    assert isinstance(done, StageFailed)
    assert done.failure_class == FailureClass.DETERMINISTIC
    assert "larger than the limit of 1048576 bytes" in done.reason
    assert not inbox.of(ArtifactStored, run_id=job.run_id)


def test_a_1_gb_artifact_is_stored_whole_with_bounded_runner_memory(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    size = 1024 * MiB
    stage = StageSpec(
        name="huge",
        script=(f"head -c {size} /dev/zero > blob",),
        artifacts=ArtifactSpec(paths=("blob",)),
    )
    job = rig.job(stage)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rig.send(job)
    assert isinstance(finished(inbox, job, timeout=90), StageSucceeded)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    [stored] = inbox.of(ArtifactStored, run_id=job.run_id)
    assert stored.size_bytes > size  # the file plus its tar headers
    print(f"peak RSS growth while storing a {size // MiB} MiB artifact: {growth / MiB:.1f} MiB")
    assert growth < 100 * MiB
