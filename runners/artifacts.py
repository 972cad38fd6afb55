"""Artifacts and archived logs in object storage (MinIO, S3 API).

An artifact is a tar of the stage's declared paths, streamed: a thread writes the tar into
a pipe while minio's public ``put_object`` reads the other end in parts of 16 MiB
(multipart upload of unknown length, one part at a time: minio's parallel mode queues every
part read without a bound), hashing and counting on the way, so memory stays bounded
whatever the size. Over the limit the read raises :class:`ArtifactTooLarge` and minio
aborts the multipart upload.
Keys: ``<prefix>artifacts/<run>/<stage>/<attempt>/artifacts.tar`` and
``<prefix>logs/<run>/<stage>/<attempt>.log.gz``.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from minio import Minio
from minio.commonconfig import ENABLED, Filter, Tags
from minio.error import MinioException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from runners.errors import ArtifactStoreError, ArtifactTooLarge
from schemas.settings import ServiceSettings

__all__ = [
    "PART_SIZE",
    "ArtifactStore",
    "MinioArtifactStore",
    "StoredObject",
    "artifact_key",
    "log_key",
]

PART_SIZE = 16 * 1024 * 1024
_SHA_META = "x-amz-meta-sha256"
_TAR_BUFFER = 1024 * 1024  # tar reads and writes in 1 MiB blocks, not 10 KiB


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Where an object went, how big it is and its SHA-256 (hex)."""

    bucket: str
    key: str
    size_bytes: int
    sha256: str

    @property
    def storage_path(self) -> str:
        """``bucket/key``, as ``ArtifactStored`` and ``LogArchived`` record it."""
        return f"{self.bucket}/{self.key}"


class ArtifactStore(Protocol):
    """What an attempt needs from object storage."""

    def upload_paths(
        self, *, root: Path, paths: Sequence[str], key: str, max_bytes: int
    ) -> StoredObject | None:
        """Pack ``paths`` (relative to ``root``) and store them; None if none exist."""

    def download_latest(self, *, key_prefix: str, dest: Path, links: bool = False) -> bool:
        """Unpack the newest attempt's artifact under ``key_prefix`` into ``dest``.

        ``links``: keep symbolic links to absolute paths (a cached virtualenv has them);
        nothing is ever written outside ``dest``.
        """

    def put_log(self, *, source: Path, key: str) -> StoredObject:
        """Store a gzip log file."""

    def stat(self, *, key: str) -> tuple[int, float] | None:
        """Size and age in seconds of the object ``key``, or None when there is none."""

    def remove(self, *, key: str) -> None:
        """Delete the object ``key`` (nothing when it is already gone)."""


def artifact_key(prefix: str, run_id: str, stage: str, attempt: int) -> str:
    """The object key of an attempt's artifact."""
    return f"{prefix}artifacts/{run_id}/{stage}/{attempt}/artifacts.tar"


def log_key(prefix: str, run_id: str, stage: str, attempt: int) -> str:
    """The object key of an attempt's archived log."""
    return f"{prefix}logs/{run_id}/{stage}/{attempt}.log.gz"


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Measured:
    """A read-only stream that hashes and counts what passes, and enforces a size limit."""

    def __init__(self, raw: _Readable, max_bytes: int) -> None:
        self._raw = raw
        self._max = max_bytes
        self.size = 0
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.size += len(data)
        if self.size > self._max:
            raise ArtifactTooLarge(
                f"the artifact is larger than the limit of {self._max} bytes "
                "(SLUICE_ARTIFACT_MAX_BYTES): declare fewer or smaller paths"
            )
        self.sha256.update(data)
        return data


class MinioArtifactStore:
    """Artifacts in ``settings.artifact_bucket`` and logs in ``settings.log_bucket``."""

    def __init__(self, settings: ServiceSettings) -> None:
        """Connect to the S3 endpoint of ``settings``."""
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
        )
        self._artifacts = settings.artifact_bucket
        self._logs = settings.log_bucket

    def upload_paths(
        self, *, root: Path, paths: Sequence[str], key: str, max_bytes: int
    ) -> StoredObject | None:
        """Stream a tar of the existing ``paths`` under ``root`` to ``key``."""
        present = [p for p in (_inside(root, p) for p in paths) if p is not None]
        if not present:
            return None
        read_fd, write_fd = os.pipe()
        writer = threading.Thread(
            target=_write_tar, args=(write_fd, root, present), name="tar", daemon=True
        )
        writer.start()
        with os.fdopen(read_fd, "rb") as pipe:
            try:
                return self._upload_stream(pipe, key, max_bytes)
            finally:
                pipe.close()  # unblocks the tar thread if the upload stopped early
                writer.join()

    def _upload_stream(self, pipe: IO[bytes], key: str, max_bytes: int) -> StoredObject:
        stream = _Measured(pipe, max_bytes)
        try:
            self._client.put_object(
                self._artifacts,
                key,
                cast(Any, stream),  # minio reads it as a binary stream: read(n) -> bytes
                length=-1,
                part_size=PART_SIZE,
                content_type="application/x-tar",
                num_parallel_uploads=1,  # bounded memory: one part held at a time
            )
            stat = self._client.stat_object(self._artifacts, key)
        except (MinioException, OSError) as e:
            raise ArtifactStoreError(f"uploading the artifact {key} failed: {e}") from e
        if stat.size != stream.size:
            raise ArtifactStoreError(f"artifact {key}: stored {stat.size} of {stream.size} bytes")
        digest = stream.sha256.hexdigest()
        self._tag_sha256(key, digest)
        return StoredObject(self._artifacts, key, stream.size, digest)

    def _tag_sha256(self, key: str, digest: str) -> None:
        try:
            self._client.set_object_tags(self._artifacts, key, _tags(digest))
        except MinioException as e:
            raise ArtifactStoreError(f"tagging the artifact {key} failed: {e}") from e

    def download_latest(self, *, key_prefix: str, dest: Path, links: bool = False) -> bool:
        """Unpack the artifact of the highest attempt under ``key_prefix``; verify its hash."""
        key = self._latest_key(key_prefix)
        if key is None:
            return False
        try:
            tags: dict[str, str] = dict(self._client.get_object_tags(self._artifacts, key) or {})
            expected = tags.get("sha256")
            response = self._client.get_object(self._artifacts, key)
        except MinioException as e:
            raise ArtifactStoreError(f"downloading the artifact {key} failed: {e}") from e
        try:
            stream = _Measured(cast(_Readable, response), 2**63)
            with tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_BUFFER) as tar:  # type: ignore[call-overload]
                tar.extractall(dest, filter="tar" if links else "data")
            stream.read()  # the tar's end padding, so the hash covers every byte
        finally:
            response.close()
            response.release_conn()
        if expected and stream.sha256.hexdigest() != expected:
            raise ArtifactStoreError(f"artifact {key} is corrupt: its SHA-256 does not match")
        return True

    def _latest_key(self, key_prefix: str) -> str | None:
        try:
            objects = list(self._client.list_objects(self._artifacts, key_prefix, recursive=True))
        except MinioException as e:
            raise ArtifactStoreError(f"listing artifacts under {key_prefix} failed: {e}") from e
        keys = [o.object_name for o in objects if o.object_name]
        return max(keys, key=_attempt_of, default=None)

    def stat(self, *, key: str) -> tuple[int, float] | None:
        """Size and age in seconds of ``key`` in the artifacts bucket; None when absent."""
        try:
            found = self._client.stat_object(self._artifacts, key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise ArtifactStoreError(f"looking up {key} failed: {e}") from e
        except MinioException as e:
            raise ArtifactStoreError(f"looking up {key} failed: {e}") from e
        modified = found.last_modified.timestamp() if found.last_modified else time.time()
        return int(found.size or 0), max(time.time() - modified, 0.0)

    def remove(self, *, key: str) -> None:
        """Delete ``key`` from the artifacts bucket (S3 answers alike when it is gone)."""
        try:
            self._client.remove_object(self._artifacts, key)
        except MinioException as e:
            raise ArtifactStoreError(f"deleting {key} failed: {e}") from e

    def expire_prefix(self, *, prefix: str, days: int) -> None:
        """Have MinIO delete objects under ``prefix`` ``days`` after they were written.

        One lifecycle rule per prefix (its id names it); other rules are kept.
        """
        rule_id = f"sluice-expire-{prefix or 'root'}".replace("/", "-")[:255]
        rule = Rule(ENABLED, Filter(prefix=prefix), rule_id, expiration=Expiration(days=days))
        try:
            current = self._client.get_bucket_lifecycle(self._artifacts)
            kept = [r for r in (current.rules if current else []) if r.rule_id != rule_id]
            self._client.set_bucket_lifecycle(self._artifacts, LifecycleConfig([*kept, rule]))
        except MinioException as e:
            raise ArtifactStoreError(f"setting the expiry of {prefix} failed: {e}") from e

    def put_log(self, *, source: Path, key: str) -> StoredObject:
        """Store the gzip log file ``source`` at ``key`` in the log bucket."""
        digest = hashlib.sha256()
        with source.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        try:
            self._client.fput_object(self._logs, key, str(source), content_type="application/gzip")
        except (MinioException, OSError) as e:
            raise ArtifactStoreError(f"archiving the log {key} failed: {e}") from e
        return StoredObject(self._logs, key, source.stat().st_size, digest.hexdigest())


def _tags(digest: str) -> Any:
    tags = Tags.new_object_tags()
    tags["sha256"] = digest
    return tags


def _attempt_of(key: str) -> int:
    parts = key.rsplit("/", 2)
    return int(parts[-2]) if len(parts) == 3 and parts[-2].isdigit() else -1


def _inside(root: Path, declared: str) -> str | None:
    """``declared`` relative to ``root`` if it exists there and does not escape it."""
    target = (root / declared).resolve()
    if not target.is_relative_to(root.resolve()) or not target.exists():
        return None
    return str(target.relative_to(root.resolve())) or "."


def _write_tar(fd: int, root: Path, paths: Sequence[str]) -> None:
    try:
        with (
            os.fdopen(fd, "wb") as pipe,
            tarfile.open(fileobj=pipe, mode="w|", bufsize=_TAR_BUFFER) as tar,
        ):
            for path in paths:
                tar.add(root / path, arcname=path)
    except (BrokenPipeError, ValueError):
        pass  # the reader gave up (limit reached or upload failed); it reports why
