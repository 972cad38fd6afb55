"""Image build stages: the repository's Dockerfile built by the host's Docker engine.

The build runs as the Docker engine runs (root on the host, on the bridge network): a
pipeline that can build images is trusted with that engine. ``FROM`` lines that name an
image without a registry (``FROM python:3.11``) are pointed at the local registry, where
the catalogue images are; the rewritten Dockerfile is sent beside the context. The image
is tagged ``<registry>/NAME:<commit sha>`` and ``:<branch>`` and both are pushed.
A build that outlives the stage's timeout, or whose stage is cancelled, is abandoned: its
connection is closed and the container of the step it was running (the classic builder
names it: `` ---> Running in <id>``) is removed, since closing the connection alone leaves
that step running on the engine.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from orchestrator.domain.images import branch_tag
from runners.errors import ContainerError
from runners.executor import image_ref
from runners.toolchains import build_lines
from schemas.errors import DomainError

__all__ = ["BuildFailed", "BuildRequest", "BuiltImage", "ImageBuilder", "point_from_lines"]

_FROM = re.compile(r"^(\s*FROM\s+)((?:--\S+\s+)*)(\S+)(.*)$", re.IGNORECASE | re.MULTILINE)
_AS = re.compile(r"\bAS\s+(\S+)", re.IGNORECASE)
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
Line = Callable[[str], None]


class BuildFailed(DomainError):
    """The Dockerfile did not build (a RUN step failed, a file is missing): the user's fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRequest:
    """One image build: where its context and Dockerfile are, and how to tag it."""

    context: Path
    dockerfile: Path
    name: str
    commit_sha: str
    branch: str
    build_args: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """What a build pushed."""

    tag: str  # <registry>/NAME:<commit sha>
    digest: str
    size_bytes: int


def point_from_lines(dockerfile: str, registry: str) -> str:
    """``FROM python:3.11`` → ``FROM <registry>/python:3.11`` (stage names and scratch kept)."""
    stages = {m.lower() for m in _AS.findall(dockerfile)}

    def point(match: re.Match[str]) -> str:
        image = match.group(3)
        if image.lower() in stages or image == "scratch" or "$" in image:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{image_ref(image, registry)}{match.group(4)}"

    return _FROM.sub(point, dockerfile)


class ImageBuilder:
    """Builds and pushes images on the engine at ``docker_host``."""

    def __init__(self, *, docker_host: str, registry: str) -> None:
        """Use the engine at ``docker_host``; push to ``registry``."""
        self._docker_host = docker_host
        self.registry = registry
        self._step: str | None = None
        self._abandoned = threading.Event()

    def build(self, request: BuildRequest, rewritten: Path, line: Line) -> BuiltImage:
        """Build ``request`` (its Dockerfile rewritten into ``rewritten``), tag and push it."""
        text = request.dockerfile.read_text(encoding="utf-8")
        rewritten.write_text(point_from_lines(text, self.registry), encoding="utf-8")
        tag = f"{self.registry}/{request.name}:{request.commit_sha}"
        client = docker.APIClient(base_url=self._docker_host, timeout=3600)
        self._client = client
        try:
            self._build(client, request, rewritten, tag, line)
            branch = f"{self.registry}/{request.name}:{branch_tag(request.branch)}"
            client.tag(tag, branch.rpartition(":")[0], branch.rpartition(":")[2])
            digest = _push(client, tag, line)
            _push(client, branch, line)
            size = int(client.inspect_image(tag).get("Size") or 0)
        except DockerException as e:
            raise ContainerError(f"the Docker engine failed building {tag}: {e}") from e
        finally:
            client.close()
        return BuiltImage(tag=tag, digest=digest, size_bytes=size)

    def abandon(self) -> None:
        """Stop the build (from another thread): close its connection, remove its step."""
        self._abandoned.set()
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        self._remove_step()

    def _remove_step(self) -> None:
        step = self._step
        if step is None:
            return
        try:
            with docker.APIClient(base_url=self._docker_host, timeout=30) as engine:
                engine.remove_container(step, force=True)
        except DockerException:
            pass  # already gone with the build: what we want

    def _follow(self, text: str) -> None:
        found = _RUNNING_IN.match(text)
        if found is not None:
            self._step = found.group(1)
            if self._abandoned.is_set():  # the step started while we were abandoning
                self._remove_step()

    def _build(
        self, client: Any, request: BuildRequest, rewritten: Path, tag: str, line: Line
    ) -> None:
        chunks = client.build(
            path=str(request.context), dockerfile=str(rewritten), tag=tag,
            buildargs=dict(request.build_args), rm=True, forcerm=True, decode=True,
            network_mode="bridge", pull=False,
        )  # fmt: skip
        try:
            for text in build_lines(chunks):
                self._follow(text)
                line(text)
        except ContainerError as e:
            raise BuildFailed(str(e)) from e


def _push(client: Any, ref: str, line: Line) -> str:
    repository, _, tag = ref.rpartition(":")
    digest = ""
    for chunk in _chunks(client.push(repository, tag=tag, stream=True, decode=True)):
        if "error" in chunk:
            raise ContainerError(f"pushing {ref} failed: {chunk['error']}")
        digest = str((chunk.get("aux") or {}).get("Digest") or digest)
    line(f"pushed {ref} ({digest or 'no digest'})")
    return digest


def _chunks(stream: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    yield from stream


class BuildThread(threading.Thread):
    """Runs one build off the attempt's thread, so its timeout and cancel stay live."""

    def __init__(self, work: Callable[[], BuiltImage]) -> None:
        """Run ``work`` when started."""
        super().__init__(name="image-build", daemon=True)
        self._work = work
        self.result: BuiltImage | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        """Keep the result or the error for the attempt to read."""
        try:
            self.result = self._work()
        except BaseException as e:
            self.error = e
