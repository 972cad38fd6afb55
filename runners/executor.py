"""Stages in Docker: one fresh, limited, non-root container per attempt, always removed.

Lifecycle of a :class:`DockerContainers` run: ``pull`` (when the image is not on the host,
or its tag now names another digest in the registry: checked at most every :data:`RECHECK_S`
per image, so a rebuilt ``python:3.11`` or a moved branch tag is used within that time, and
an unreachable registry falls back to the local copy) → ``start`` (create with limits and
labels, attach to its output, start) → ``wait`` (in short slices, so a cancel or a timeout
is noticed within half a second) → ``kill`` when needed → ``remove`` (force, whatever
happened). Every container carries the labels ``sluice.runner``, ``sluice.host`` and
``sluice.lock`` (the owner's lock file) so a later runner can tell those of a dead runner
and remove them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker
import requests
from docker.errors import APIError, DockerException
from docker.errors import ImageNotFound as DockerImageNotFound
from docker.utils.socket import frames_iter

from orchestrator.domain.statuses import LogStream
from runners.errors import ContainerError, ImageNotFound
from runners.registry import Registry, RegistryUnreachable, suggest

RECHECK_S = 30.0
_log = logging.getLogger("sluice.runner")

__all__ = [
    "HOST_LABEL",
    "LOCK_LABEL",
    "RECHECK_S",
    "RUNNER_LABEL",
    "WORK_LABEL",
    "ContainerExit",
    "ContainerSpec",
    "Containers",
    "DockerContainers",
    "Running",
    "image_ref",
]

RUNNER_LABEL = "sluice.runner"
HOST_LABEL = "sluice.host"
LOCK_LABEL = "sluice.lock"  # the runner's lock file: held while the runner lives
WORK_LABEL = "sluice.work"  # the runner's workspaces on the host
OutputSink = Callable[[LogStream, bytes], None]
_STDERR = 2  # stream id of stderr in Docker's multiplexed attach stream


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """Everything one attempt's container is created with."""

    image: str
    script: str
    env: Mapping[str, str]
    src: Path
    work: Path
    user: str
    cpus: float
    memory_bytes: int
    pids_limit: int
    network: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerExit:
    """How a container ended."""

    exit_code: int
    oom_killed: bool


class Running(Protocol):
    """A started container."""

    def wait(self, timeout_s: float) -> ContainerExit | None:
        """The exit, or None if still running after ``timeout_s``."""

    def kill(self) -> None:
        """Stop it now (SIGKILL)."""

    def drain(self) -> None:
        """Wait until all of its output has gone to the sink (it must have stopped)."""

    def remove(self) -> None:
        """Remove it (force) and wait for its output to be drained."""


class Containers(Protocol):
    """The container backend an attempt runs on."""

    def pull(self, image: str) -> str:
        """Make ``image`` available locally; return the reference to run."""

    def is_local(self, image: str) -> bool:
        """Whether ``image`` is already on this host (a stage on it starts warm)."""

    def start(self, spec: ContainerSpec, sink: OutputSink) -> Running:
        """Create and start a container, sending its output to ``sink`` as it comes."""


def image_ref(image: str, registry: str) -> str:
    """``debian-git:bookworm`` → ``<registry>/debian-git:bookworm``; a full ref is kept."""
    first = image.split("/", 1)[0]
    has_registry = "/" in image and ("." in first or ":" in first or first == "localhost")
    return image if has_registry else f"{registry}/{image}"


class DockerContainers:
    """:class:`Containers` on a Docker engine, pulling from ``registry``."""

    def __init__(
        self,
        *,
        docker_host: str,
        registry: str,
        runner_id: str,
        lock_path: Path,
        work_root: Path,
    ) -> None:
        """Connect to the engine at ``docker_host``; label containers as ``runner_id``'s."""
        try:
            self._client = docker.DockerClient(base_url=docker_host, max_pool_size=64)
        except DockerException as e:
            raise ContainerError(f"cannot reach the Docker engine at {docker_host}: {e}") from e
        self._registry = registry
        self._owner = {
            RUNNER_LABEL: runner_id,
            HOST_LABEL: socket.gethostname(),
            LOCK_LABEL: str(lock_path),
            WORK_LABEL: str(work_root),
        }
        self._checked: dict[str, float] = {}  # ref → monotonic time its digest was compared
        self._lock = threading.Lock()
        self.recheck_s = RECHECK_S

    @property
    def registry(self) -> str:
        """The registry images are pulled from."""
        return self._registry

    @property
    def runner_id(self) -> str:
        """The runner whose containers these are."""
        return self._owner[RUNNER_LABEL]

    @property
    def client(self) -> docker.DockerClient:
        """The underlying docker-py client (the reaper lists containers with it)."""
        return self._client

    def close(self) -> None:
        """Close the connections to the engine."""
        self._client.close()

    def pull(self, image: str) -> str:
        """Pull ``image`` unless the host has the registry's current digest of its tag."""
        ref = image_ref(image, self._registry)
        with self._lock:
            checked = self._checked.get(ref)
        if checked is not None and time.monotonic() - checked < self.recheck_s:
            return ref
        local = self._local_digests(ref)
        if local is None or self._moved(ref, local):
            self._pull(image, ref)
        with self._lock:
            self._checked[ref] = time.monotonic()
        return ref

    def is_local(self, image: str) -> bool:
        """Whether ``image`` is on the engine's host already (no pull needed)."""
        ref = image_ref(image, self._registry)
        try:
            return self._local_digests(ref) is not None
        except ContainerError:
            return False

    def _local_digests(self, ref: str) -> frozenset[str] | None:
        """The registry digests of the local image ``ref``; None when it is not here."""
        try:
            found = self._client.images.get(ref)
        except DockerImageNotFound:
            return None
        except DockerException as e:
            raise ContainerError(f"the Docker engine failed looking up {ref}: {e}") from e
        digests = found.attrs.get("RepoDigests") or []
        return frozenset(str(d).rpartition("@")[2] for d in digests)

    def _moved(self, ref: str, local: frozenset[str]) -> bool:
        """Whether the registry's tag ``ref`` names a digest the local image does not have."""
        try:
            remote = self._client.images.get_registry_data(ref).id
        except DockerException as e:
            _log.info("cannot ask the registry for %s (%s): using the local copy", ref, e)
            return False
        return remote not in local

    def _pull(self, image: str, ref: str) -> None:
        try:
            self._client.images.pull(ref)
        except APIError as e:
            if _absent(e):
                raise ImageNotFound(missing_image_message(image, ref, self._registry)) from e
            raise ContainerError(f"could not pull image {ref}: {e}") from e
        except DockerException as e:
            raise ContainerError(f"could not pull image {ref}: {e}") from e

    def start(self, spec: ContainerSpec, sink: OutputSink) -> Running:
        """Create the container with its limits, attach to its output, then start it."""
        try:
            container = self._client.containers.create(**self._create_args(spec))
        except DockerException as e:
            raise ContainerError(f"could not create a container of {spec.image}: {e}") from e
        running = _DockerRunning(container)
        try:
            running.attach(self._client, sink)
            container.start()
        except DockerException as e:
            running.remove()
            raise ContainerError(f"could not start a container of {spec.image}: {e}") from e
        return running

    def _create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        return {
            "image": spec.image,
            "command": ["sh", "-e", "-c", spec.script],
            "environment": dict(spec.env),
            "user": spec.user,
            "working_dir": "/workspace",
            "volumes": {
                str(spec.src): {"bind": "/src", "mode": "ro"},
                str(spec.work): {"bind": "/workspace", "mode": "rw"},
            },
            "network_mode": "bridge" if spec.network else "none",
            "nano_cpus": int(spec.cpus * 1e9),
            "mem_limit": spec.memory_bytes,
            "memswap_limit": spec.memory_bytes,  # no swap: an over-limit stage is OOM-killed
            "pids_limit": spec.pids_limit,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "labels": {**self._owner, **spec.labels},
            # the runner streams the output itself; a log driver would only slow dockerd down
            "log_config": {"type": "none", "config": {}},
            "detach": True,
        }


def _absent(error: APIError) -> bool:
    """Whether a pull failed because the image does not exist (not: the registry is down)."""
    status = error.status_code
    text = str(error.explanation or error).lower()
    if status is not None and status >= 500 and "manifest unknown" not in text:
        return False  # the engine could not reach the registry: infrastructure
    return status in (400, 404) or "manifest unknown" in text or "not found" in text


def missing_image_message(image: str, ref: str, registry: str) -> str:
    """What to tell a user whose stage names an image the registry does not have."""
    head = f"image {image} does not exist in the registry {registry} (pulling {ref})"
    try:
        held = Registry(registry).images()
    except RegistryUnreachable:
        return f"{head}; check the stage's image: key"
    local = image.removeprefix(f"{registry}/")
    close = suggest(local, held)
    if close:
        return f"{head}; did you mean {' or '.join(close)}? (sluice images list shows them all)"
    shown = ", ".join(held[:20]) or "none"
    return f"{head}; images there: {shown}"


class _DockerRunning:
    """One started container and the thread that drains its output."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._reader: threading.Thread | None = None

    def attach(self, client: docker.DockerClient, sink: OutputSink) -> None:
        # attached before start, so the live stream has it all; logs=1 would also replay
        # the log file and could repeat the first lines
        params = {"stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
        sock = client.api.attach_socket(self._container.id, params=params)
        self._reader = threading.Thread(
            target=_drain, args=(sock, sink), name=f"logs-{self._container.id[:12]}", daemon=True
        )
        self._reader.start()

    def wait(self, timeout_s: float) -> ContainerExit | None:
        try:
            status = self._container.wait(timeout=max(timeout_s, 0.01))
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            return None  # docker-py reports the read timeout as either: still running
        except DockerException as e:
            raise ContainerError(f"lost the container {self._container.id[:12]}: {e}") from e
        return ContainerExit(int(status.get("StatusCode", -1)), self._oom_killed())

    def _oom_killed(self) -> bool:
        try:
            self._container.reload()
        except DockerException:
            return False
        return bool(self._container.attrs.get("State", {}).get("OOMKilled", False))

    def kill(self) -> None:
        with contextlib.suppress(DockerException):  # already stopped
            self._container.kill()

    def drain(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=30)

    def remove(self) -> None:
        with contextlib.suppress(DockerException):  # already gone
            self._container.remove(force=True)
        self.drain()


def _drain(sock: Any, sink: OutputSink) -> None:
    try:
        for stream_id, data in frames_iter(sock, tty=False):
            sink(LogStream.STDERR if stream_id == _STDERR else LogStream.STDOUT, data)
    except (DockerException, requests.exceptions.RequestException, OSError):
        pass  # the container was removed under us: its output is over
    finally:
        _close_attach(sock)


def _close_attach(sock: Any) -> None:
    """Close the attach socket and the HTTP response docker-py keeps beside it."""
    raw = getattr(sock, "_sock", None)
    response = getattr(sock, "_response", None)
    with contextlib.suppress(Exception):  # best effort: the peer may be gone already
        if response is not None:
            response.close()
        sock.close()
        if raw is not None:
            raw.close()
