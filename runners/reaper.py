"""Removing what a dead runner left behind on this host: containers and workspaces.

Each live runner holds an exclusive ``flock`` on ``<state>/runner/locks/<runner id>.lock``
for as long as its process lives; the kernel drops it when the process dies, even on
``kill -9``. Every container names its runner's lock file in a label, so any runner of the
host (whatever its state directory) can tell: a container of this host whose owner's lock
is free (or gone) belongs to a dead runner and is removed, with that runner's workspaces.
Each one is returned as an :class:`Orphan` so the runner can report its attempt failed
(infrastructure) at once, instead of the run waiting for the attempt's lease to expire.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
from docker.errors import DockerException

from runners.errors import ContainerError
from runners.executor import HOST_LABEL, LOCK_LABEL, RUNNER_LABEL, WORK_LABEL

__all__ = [
    "ATTEMPT_LABEL",
    "RUN_LABEL",
    "STAGE_LABEL",
    "Orphan",
    "hold_runner_lock",
    "reap_dead_runners",
]

MARKER = "attempt.json"
RUN_LABEL = "sluice.run"
STAGE_LABEL = "sluice.stage"
ATTEMPT_LABEL = "sluice.attempt"


@dataclass(frozen=True, slots=True)
class Orphan:
    """The attempt a dead runner was running in a container that has now been removed."""

    runner_id: str
    run_id: str
    stage: str
    attempt: int


def hold_runner_lock(locks_dir: Path, runner_id: str) -> IO[bytes]:
    """Take this runner's lock; keep the returned file open for the runner's lifetime."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    handle = (locks_dir / f"{runner_id}.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        handle.close()
        raise ContainerError(f"runner id {runner_id!r} is already running on this host") from e
    return handle


def reap_dead_runners(
    client: docker.DockerClient, *, own_id: str, locks_dir: Path, work_dir: Path
) -> list[Orphan]:
    """Remove containers and workspaces of dead runners of this host; their attempts.

    Containers name their owner; a dead runner of the same state directory that had not
    started its container yet is found by its free lock file and its attempt markers.
    """
    dead: dict[str, str] = {}  # runner id -> its workspaces
    orphans = _reap_containers(client, own_id, dead)
    for lock in sorted(locks_dir.glob("*.lock")):
        runner = lock.stem
        if runner != own_id and runner not in dead and not _alive(lock):
            dead[runner] = str(work_dir / runner)
            orphans += [m for m in _markers(work_dir / runner) if m not in orphans]
    for work in dead.values():
        if work:
            shutil.rmtree(work, ignore_errors=True)
    return orphans


def _reap_containers(
    client: docker.DockerClient, own_id: str, dead: dict[str, str]
) -> list[Orphan]:
    host = socket.gethostname()
    try:
        # another runner may remove a container between the list and its inspection
        containers = client.containers.list(
            all=True, filters={"label": LOCK_LABEL}, ignore_removed=True
        )
    except DockerException as e:
        raise ContainerError(f"cannot list containers to clean up: {e}") from e
    orphans: list[Orphan] = []
    for container in containers:
        labels = container.labels
        runner = labels.get(RUNNER_LABEL, "")
        if runner == own_id or labels.get(HOST_LABEL) != host:
            continue
        if runner in dead or not _alive(Path(labels[LOCK_LABEL])):
            dead[runner] = labels.get(WORK_LABEL, "")
            with contextlib.suppress(DockerException):  # removed meanwhile
                container.remove(force=True)
            orphans += _orphan(runner, labels)
    return orphans


def _markers(work: Path) -> list[Orphan]:
    found = []
    for marker in sorted(work.glob(f"*/{MARKER}")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(marker.read_text())
            found.append(
                Orphan(data["runner_id"], data["run_id"], data["stage"], int(data["attempt"]))
            )
    return found


def mark_attempt(root: Path, orphan: Orphan) -> None:
    """Leave a note in an attempt's workspace saying whose attempt it is (read by reapers)."""
    (root / MARKER).write_text(json.dumps(dataclasses.asdict(orphan)))


def _orphan(runner: str, labels: dict[str, str]) -> list[Orphan]:
    attempt = labels.get(ATTEMPT_LABEL, "")
    if RUN_LABEL not in labels or STAGE_LABEL not in labels or not attempt.isdigit():
        return []
    return [Orphan(runner, labels[RUN_LABEL], labels[STAGE_LABEL], int(attempt))]


def _alive(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False  # its state directory is gone, and the runner with it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    lock.unlink(missing_ok=True)
    return False
