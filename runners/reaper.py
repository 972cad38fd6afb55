"""Removing what a dead runner left behind on this host: containers and workspaces.

Each live runner holds an exclusive ``flock`` on ``<state>/runner/locks/<runner id>.lock``
for as long as its process lives; the kernel drops it when the process dies, even on
``kill -9``. A container labelled with another runner id of this host whose lock is free
(or missing) belongs to a dead runner and is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
from pathlib import Path
from typing import IO

import docker
from docker.errors import DockerException

from runners.errors import ContainerError
from runners.executor import HOST_LABEL, RUNNER_LABEL

__all__ = ["hold_runner_lock", "reap_dead_runners"]


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
    client: docker.DockerClient, *, locks_dir: Path, work_dir: Path, own_id: str
) -> list[str]:
    """Remove containers and workspaces of dead runners of this host; their runner ids."""
    host = socket.gethostname()
    try:
        containers = client.containers.list(all=True, filters={"label": RUNNER_LABEL})
    except DockerException as e:
        raise ContainerError(f"cannot list containers to clean up: {e}") from e
    dead: set[str] = set()
    for container in containers:
        runner = container.labels.get(RUNNER_LABEL, "")
        if runner == own_id or container.labels.get(HOST_LABEL) != host:
            continue
        if runner in dead or not _alive(locks_dir, runner):
            dead.add(runner)
            with contextlib.suppress(DockerException):  # removed meanwhile
                container.remove(force=True)
    for runner in dead:
        shutil.rmtree(work_dir / runner, ignore_errors=True)
    return sorted(dead)


def _alive(locks_dir: Path, runner_id: str) -> bool:
    path = locks_dir / f"{runner_id}.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    return False
