"""The reaper finds a dead runner's attempt even before its container existed."""

from __future__ import annotations

from pathlib import Path

import docker

from runners.reaper import Orphan, hold_runner_lock, mark_attempt, reap_dead_runners


def test_an_attempt_of_a_dead_runner_without_a_container_is_found_by_its_marker(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    locks, work = tmp_path / "locks", tmp_path / "work"
    hold_runner_lock(locks, "dead-runner").close()  # its process ended: the lock is free
    (work / "dead-runner" / "job").mkdir(parents=True)
    orphan = Orphan("dead-runner", "run-1", "build", 2)
    mark_attempt(work / "dead-runner" / "job", orphan)
    found = reap_dead_runners(docker_client, own_id="me", locks_dir=locks, work_dir=work)
    assert found == [orphan]
    assert not (work / "dead-runner").exists()


def test_a_live_runner_is_left_alone(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    locks, work = tmp_path / "locks", tmp_path / "work"
    held = hold_runner_lock(locks, "live-runner")
    (work / "live-runner" / "job").mkdir(parents=True)
    mark_attempt(work / "live-runner" / "job", Orphan("live-runner", "run-1", "build", 1))
    try:
        found = reap_dead_runners(docker_client, own_id="me", locks_dir=locks, work_dir=work)
    finally:
        held.close()
    assert found == []
    assert (work / "live-runner" / "job").exists()
