"""Read a pipeline file from a repository at one exact commit.

Each repository URL gets one cached bare mirror under a cache folder. A commit already in
the mirror is read with no network at all; only a missing commit costs a ``git fetch``.
Errors::

    DomainError
    └── SourceError                   the request names something that is not there
        ├── UnknownRepository         the URL is not a git repository we can clone
        ├── UnknownCommit             the commit is not in the repository (after a fetch)
        └── MissingPipelineFile       the commit has no file at the pipeline's path
    InfrastructureError
    └── GitUnavailable                git failed or timed out; trying again may work

Every git call is a subprocess with a timeout, arguments passed as a list (never a shell),
and the SHA and path are checked first so that neither can smuggle in an option.

A file at a full commit SHA never changes, so those reads are remembered (a bounded LRU): the
same commit is triggered many times (branches, retries, dedup windows), and two git
subprocesses were a third of the trigger processor's time (``bench/trigger_path.py``). An
abbreviated SHA is always asked of git, since what it names can change as the repository grows.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from schemas.errors import DomainError, InfrastructureError

__all__ = [
    "GitUnavailable",
    "MissingPipelineFile",
    "PipelineSource",
    "SourceError",
    "UnknownCommit",
    "UnknownRepository",
]

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


class SourceError(DomainError):
    """The repository, commit or file a request names does not exist."""


class UnknownRepository(SourceError):
    """The repository URL cannot be cloned; check the pipeline's ``repo_url``."""


class UnknownCommit(SourceError):
    """The commit is not in the repository, even after fetching; check the SHA was pushed."""


class MissingPipelineFile(SourceError):
    """The commit holds no pipeline file at the configured path."""


class GitUnavailable(InfrastructureError):
    """git failed or timed out for a reason that may pass; try again later."""


class PipelineSource:
    """Pipeline files read from cached bare mirrors, one per repository URL."""

    def __init__(self, *, cache_dir: Path, timeout_s: float = 60.0, remember: int = 512) -> None:
        """Keep mirrors under ``cache_dir``; give up on any git call after ``timeout_s``;
        remember the last ``remember`` files read at a full commit SHA."""
        self._cache = cache_dir
        self._timeout = timeout_s
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._remember = remember
        self._texts: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def read(self, repo_url: str, commit_sha: str, path: str) -> str:
        """The text of ``path`` at ``commit_sha`` in ``repo_url`` (fetching only if needed)."""
        _check_request(repo_url, commit_sha, path)
        if not _FULL_SHA.fullmatch(commit_sha):
            return self._read_from_git(repo_url, commit_sha, path)
        known = self.remembered(repo_url, commit_sha, path)
        if known is not None:
            return known
        text = self._read_from_git(repo_url, commit_sha.lower(), path)
        with self._guard:
            self._texts[(repo_url, commit_sha.lower(), path)] = text
            if len(self._texts) > self._remember:
                self._texts.popitem(last=False)
        return text

    def remembered(self, repo_url: str, commit_sha: str, path: str) -> str | None:
        """The text of ``path`` at a full ``commit_sha`` if it was read before, with no I/O
        (a commit's file never changes); None otherwise."""
        if not _FULL_SHA.fullmatch(commit_sha):
            return None  # an abbreviated SHA may name another commit tomorrow: ask git
        key = (repo_url, commit_sha.lower(), path)
        with self._guard:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
        return text

    def _read_from_git(self, repo_url: str, commit_sha: str, path: str) -> str:
        with self._lock_for(repo_url):
            mirror = self._mirror(repo_url)
            if not self._has_commit(mirror, commit_sha):
                self._fetch(mirror, repo_url)
                if not self._has_commit(mirror, commit_sha):
                    raise UnknownCommit(
                        f"commit {commit_sha} is not in {_safe(repo_url)}; was it pushed?"
                    )
        return self._show(mirror, commit_sha, path, repo_url)

    def mirror_path(self, repo_url: str) -> Path:
        """Where the mirror of ``repo_url`` lives (named by a hash of the URL)."""
        return self._cache / (hashlib.sha256(repo_url.encode()).hexdigest()[:24] + ".git")

    def _lock_for(self, repo_url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(repo_url, threading.Lock())

    def _mirror(self, repo_url: str) -> Path:
        mirror = self.mirror_path(repo_url)
        if mirror.is_dir():
            return mirror
        self._cache.mkdir(parents=True, exist_ok=True)
        # Clone beside the final place and rename, so no process ever sees half a mirror.
        staging = Path(tempfile.mkdtemp(dir=self._cache, prefix=".clone-"))
        try:
            result = self._git(["clone", "--mirror", "--quiet", "--", repo_url, str(staging)])
            if result.returncode != 0:
                raise UnknownRepository(
                    f"cannot clone {_safe(repo_url)}: {_reason(result.stderr)}; "
                    "check the pipeline's repo_url"
                )
            os.replace(staging, mirror)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return mirror

    def _has_commit(self, mirror: Path, sha: str) -> bool:
        result = self._git(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=mirror)
        return result.returncode == 0

    def _fetch(self, mirror: Path, repo_url: str) -> None:
        result = self._git(["fetch", "--quiet", "--prune", "origin"], cwd=mirror)
        if result.returncode != 0:
            raise GitUnavailable(f"cannot fetch {_safe(repo_url)}: {_reason(result.stderr)}")

    def _show(self, mirror: Path, sha: str, path: str, repo_url: str) -> str:
        result = self._git(["show", f"{sha}:{path}"], cwd=mirror)
        if result.returncode != 0:
            raise MissingPipelineFile(
                f"no {path} at commit {sha} of {_safe(repo_url)}; add it or change the pipeline's "
                "config_path"
            )
        return result.stdout

    def _git(self, args: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                env={**os.environ, **_ENV},
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise GitUnavailable(f"git {args[0]} took longer than {self._timeout} s") from e
        except OSError as e:
            raise GitUnavailable(f"cannot run git ({e}); is git installed?") from e


def _check_request(repo_url: str, commit_sha: str, path: str) -> None:
    if not repo_url or repo_url.startswith("-"):
        raise UnknownRepository(f"{repo_url!r} is not a repository URL")
    if not _SHA.fullmatch(commit_sha):
        raise UnknownCommit(f"{commit_sha!r} is not a commit SHA (7 to 64 hex digits)")
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts or "\n" in path:
        raise MissingPipelineFile(f"{path!r} is not a path inside the repository")


def _reason(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    # git echoes URLs; any user:password@ in them must not reach an event or a log line.
    return _USERINFO.sub(r"\1***@", lines[-1]) if lines else "git gave no reason"


def _safe(url: str) -> str:
    return _USERINFO.sub(r"\1***@", url)
