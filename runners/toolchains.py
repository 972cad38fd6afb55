"""Toolchain images: the catalogue ``infra/images.txt`` and how its images are built.

Each line names an image (``python:3.11``) and the Debian bookworm packages it adds. The
image is built FROM the base image ``debian-git:bookworm`` (git + ca-certificates, built by
``infra/up`` with debootstrap) with ``apt-get install`` inside the build, on Docker's bridge
network (which reaches the Debian mirror as the host does), tagged with exactly its name,
and pushed to the local registry. The image carries the label ``sluice.catalogue`` with a
hash of its line: a line that did not change is not rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from runners.errors import ContainerError
from runners.registry import Registry
from schemas.errors import DomainError

__all__ = [
    "BASE_IMAGE",
    "CATALOGUE_LABEL",
    "Toolchain",
    "ToolchainBuilder",
    "UnknownToolchain",
    "catalogue_path",
    "dockerfile",
    "load_catalogue",
    "parse_catalogue",
]

BASE_IMAGE = "debian-git:bookworm"
CATALOGUE_LABEL = "sluice.catalogue"
_ALWAYS = ("git", "ca-certificates")
Progress = Callable[[str], None]


class UnknownToolchain(DomainError):
    """An image name that is not a line of the catalogue."""


@dataclass(frozen=True, slots=True)
class Toolchain:
    """One line of the catalogue."""

    name: str  # repository, e.g. "python"
    tag: str  # e.g. "3.11"
    packages: tuple[str, ...]

    @property
    def ref(self) -> str:
        """``name:tag``, as a pipeline writes it."""
        return f"{self.name}:{self.tag}"

    @property
    def fingerprint(self) -> str:
        """A hash of what the image is built from: a changed line changes it."""
        text = " ".join((BASE_IMAGE, self.ref, *self.packages))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def catalogue_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$SLUICE_IMAGES_CATALOGUE``, else ``infra/images.txt`` of this checkout."""
    default = Path(__file__).resolve().parents[1] / "infra" / "images.txt"
    return Path(env.get("SLUICE_IMAGES_CATALOGUE", str(default)))


def parse_catalogue(text: str) -> tuple[Toolchain, ...]:
    """The catalogue's lines (``#`` starts a comment; ``NAME:TAG PACKAGE...``)."""
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        name, sep, tag = words[0].partition(":")
        if not sep or not name or not tag or len(words) < 2:
            raise ValueError(
                f"images catalogue line {number}: want NAME:TAG PACKAGE..., got {raw!r}"
            )
        packages = tuple(dict.fromkeys((*words[1:], *_ALWAYS)))
        found.append(Toolchain(name, tag, packages))
    return tuple(found)


def load_catalogue(path: Path | None = None) -> tuple[Toolchain, ...]:
    """Read and parse the catalogue file."""
    return parse_catalogue((path or catalogue_path()).read_text(encoding="utf-8"))


def dockerfile(toolchain: Toolchain, registry: str) -> str:
    """The Dockerfile that builds ``toolchain`` FROM the base image."""
    packages = " ".join(toolchain.packages)
    return (
        f"FROM {registry}/{BASE_IMAGE}\n"
        "RUN apt-get update \\\n"
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        f"{packages} \\\n"
        " && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb\n"
        f'LABEL {CATALOGUE_LABEL}="{toolchain.fingerprint}"\n'
    )


def find(catalogue: Iterable[Toolchain], ref: str) -> Toolchain:
    """The catalogue line named ``ref``."""
    known = list(catalogue)
    for toolchain in known:
        if toolchain.ref == ref:
            return toolchain
    names = ", ".join(t.ref for t in known)
    raise UnknownToolchain(f"{ref!r} is not in the images catalogue (it has {names})")


class ToolchainBuilder:
    """Builds catalogue images on a Docker engine and pushes them to ``registry``."""

    def __init__(self, *, docker_host: str, registry: str) -> None:
        """Use the engine at ``docker_host`` and the registry at ``registry``."""
        self._client = docker.DockerClient(base_url=docker_host, timeout=1800)
        self._registry = Registry(registry)
        self.registry = registry

    def close(self) -> None:
        """Close the connection to the engine."""
        self._client.close()

    def is_current(self, toolchain: Toolchain) -> bool:
        """Whether the registry holds ``toolchain`` built from its line as it is now."""
        labels = self._registry.labels(toolchain.name, toolchain.tag)
        return labels is not None and labels.get(CATALOGUE_LABEL) == toolchain.fingerprint

    def ensure(self, toolchain: Toolchain, progress: Progress, *, force: bool = False) -> bool:
        """Build and push ``toolchain`` unless it is current; whether it was built."""
        if not force and self.is_current(toolchain):
            progress(f"{toolchain.ref}: up to date in {self.registry}")
            return False
        tag = f"{self.registry}/{toolchain.ref}"
        progress(f"{toolchain.ref}: building ({' '.join(toolchain.packages)})")
        self._build(toolchain, tag, progress, nocache=force)
        progress(f"{toolchain.ref}: pushing {tag}")
        self._push(tag, progress)
        progress(f"{toolchain.ref}: done")
        return True

    def _build(self, toolchain: Toolchain, tag: str, progress: Progress, *, nocache: bool) -> None:
        source = io.BytesIO(dockerfile(toolchain, self.registry).encode())
        try:
            chunks = self._client.api.build(
                fileobj=source, tag=tag, rm=True, forcerm=True, decode=True,
                network_mode="bridge", pull=False, nocache=nocache,
            )  # fmt: skip
            for line in build_lines(chunks):
                progress(f"{toolchain.ref}: {line}")
        except DockerException as e:
            raise ContainerError(f"building {toolchain.ref} failed: {e}") from e

    def _push(self, tag: str, progress: Progress) -> None:
        repository, _, version = tag.rpartition(":")
        try:
            for chunk in self._client.api.push(repository, tag=version, stream=True, decode=True):
                if "error" in chunk:
                    raise ContainerError(f"pushing {tag} failed: {chunk['error']}")
        except DockerException as e:
            raise ContainerError(f"pushing {tag} failed: {e}") from e
        progress(f"pushed {tag}")


def build_lines(chunks: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The text lines of a Docker build's decoded JSON stream; an error raises."""
    for chunk in chunks:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise ContainerError(f"the build failed: {str(detail).strip()}")
        for line in str(chunk.get("stream", "")).splitlines():
            if line.strip():
                yield line.rstrip()
