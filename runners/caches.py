"""Stage caches in object storage: restored before the script, saved after success.

A cache lives at ``<prefix>caches/<pipeline>/<key>/cache.tar`` in the artifacts bucket,
packed and unpacked as a stream like an artifact. The key is the stage's template with each
``hashFiles(...)`` replaced by the SHA-256 of those files in the checkout. A cache missing,
older than the expiry (7 days by default), or unreadable is a miss: the stage runs without
it. An expired cache found by a lookup is deleted then; one nobody looks up again (its
``hashFiles`` key changed) is deleted by MinIO's lifecycle rule, which ``infra/up`` sets on
the ``caches/`` prefix (:func:`expire_caches`). A hit is not saved again (its key
says its content did not change); a save over the size limit is skipped with a log line.
"""

from __future__ import annotations

import hashlib
import math
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.caches import parse_key, render_key
from orchestrator.domain.jobs import Job
from runners.artifacts import ArtifactStore, MinioArtifactStore
from runners.errors import ArtifactTooLarge
from schemas.errors import InfrastructureError

__all__ = ["CacheRun", "cache_key", "caches_prefix", "expire_caches", "hash_files"]

Say = Callable[[str], None]


def caches_prefix(prefix: str) -> str:
    """Where every pipeline's caches live under the deployment's key ``prefix``."""
    return f"{prefix}caches/"


def cache_key(prefix: str, pipeline_id: str, key: str) -> str:
    """The object key of a pipeline's cache ``key``."""
    return f"{caches_prefix(prefix)}{pipeline_id}/{key}/cache.tar"


def expire_caches(store: MinioArtifactStore, prefix: str, expiry_s: float) -> None:
    """Let MinIO delete caches a day after they expire (lifecycle rules count whole days).

    Set by ``infra/up`` for the deployment's prefix, not by each runner: one rule, not a
    read-modify-write of the bucket's rules by every runner that starts."""
    store.expire_prefix(prefix=caches_prefix(prefix), days=math.ceil(expiry_s / 86_400) + 1)


def hash_files(root: Path, paths: Sequence[str]) -> str:
    """SHA-256 of the named files under ``root`` (name and content); missing ones skipped."""
    digest = hashlib.sha256()
    for name in paths:
        path = (root / name).resolve()
        if path.is_relative_to(root.resolve()) and path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


@dataclass
class CacheRun:
    """One attempt's cache: its key, whether it was restored, and the limits."""

    store: ArtifactStore
    job: Job
    key_prefix: str
    max_bytes: int
    expiry_s: float
    hit: bool = False

    def key(self, src: Path) -> str:
        """The rendered key of this stage's cache for the checkout at ``src``."""
        spec = self.job.stage.cache
        assert spec is not None
        return render_key(parse_key(spec.key), lambda paths: hash_files(src, paths))

    def restore(self, src: Path, work: Path, say: Say) -> None:
        """Unpack the cache into ``work`` when there is a fresh one."""
        key = self.key(src)
        object_key = cache_key(self.key_prefix, self.job.pipeline_id, key)
        started = time.monotonic()
        try:
            found = self.store.stat(key=object_key)
            if found is None:
                say(f"cache miss: {key} (none stored)")
                return
            if found[1] > self.expiry_s:
                self.store.remove(key=object_key)
                say(f"cache miss: {key} (expired: deleted)")
                return
            folder = object_key.rsplit("/", 1)[0] + "/"
            self.store.download_latest(key_prefix=folder, dest=work, links=True)
        except (InfrastructureError, OSError, tarfile.TarError) as e:
            say(f"cache miss: {key} (could not be read: {e})")
            return
        self.hit = True
        took = time.monotonic() - started
        say(f"cache hit: {key}, {found[0]} bytes restored in {took:.1f} s")

    def save(self, src: Path, work: Path, say: Say) -> None:
        """Store the cache's paths from ``work`` unless it was a hit."""
        spec = self.job.stage.cache
        assert spec is not None
        key = self.key(src)
        if self.hit:
            say(f"cache {key} was restored: not saved again")
            return
        object_key = cache_key(self.key_prefix, self.job.pipeline_id, key)
        started = time.monotonic()
        try:
            stored = self.store.upload_paths(
                root=work, paths=spec.paths, key=object_key, max_bytes=self.max_bytes
            )
        except ArtifactTooLarge:
            say(f"cache not saved: {key} is over the limit of {self.max_bytes} bytes")
            return
        except InfrastructureError as e:
            say(f"cache not saved: {key} ({e})")
            return
        if stored is None:
            say(f"cache not saved: none of {', '.join(spec.paths)} exists in /workspace")
            return
        took = time.monotonic() - started
        say(f"cache saved: {key}, {stored.size_bytes} bytes in {took:.1f} s")
