"""Which branches a pipeline's repository has: ``git ls-remote`` at the edge, remembered briefly.

A trigger that names its commit only needs to know that its branch exists, and asking git
on every POST put a subprocess (and, for a remote repository, a network round trip) on the
trigger path. :class:`BranchHeads` remembers each repository's branches for ``ttl_s``; a
branch it does not know is asked again at once, so a branch pushed a moment ago is never
refused. A trigger without a commit reads its branch's head fresh, since it may have moved.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from schemas.errors import DomainError, InfrastructureError

__all__ = ["BranchHeads", "BranchMissing", "BranchUnknown", "branch_head", "list_heads"]


class BranchUnknown(InfrastructureError):
    """The branch head could not be read from the pipeline's repository."""


class BranchMissing(DomainError):
    """The pipeline's repository has no such branch."""


def list_heads(repo_url: str) -> dict[str, str]:
    """Every branch of ``repo_url`` and its head commit (one ``git ls-remote --heads``)."""
    try:
        out = subprocess.run(
            ["git", "ls-remote", "--heads", "--", repo_url],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError) as e:
        raise BranchUnknown(f"cannot read the branches of the repository: {e}") from e
    heads = (line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return {ref.removeprefix("refs/heads/"): sha for sha, ref in heads}


def branch_head(repo_url: str, branch: str) -> str:
    """The commit SHA at the head of ``branch`` in ``repo_url``, read now."""
    return _head_in(list_heads(repo_url), branch)


def _head_in(heads: Mapping[str, str], branch: str) -> str:
    if branch not in heads:
        raise BranchMissing(f"the repository has no branch {branch!r}")
    return heads[branch]


@dataclass
class _Read:
    """One ``git ls-remote`` of a repository: begun at ``started``, finished once ``done``."""

    started: float
    done: threading.Event = field(default_factory=threading.Event)
    heads: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None


class BranchHeads:
    """Branches per repository, remembered for ``ttl_s`` (thread-safe).

    Concurrent callers share one read of a repository: when the memory expired under 16
    concurrent POSTs, each used to start its own ``git ls-remote`` (16 at once, every 10 s,
    ~60 ms of CPU each for a repository of 5,000 branches: the API's p99 of ~0.5 s in
    bench/api.py). A caller joins a read in flight only if that read began late enough for
    it: within the TTL for a branch known before, no earlier than its own request for a
    branch not known or a head, so a branch pushed a moment ago is still never refused.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 10.0,
        read: Callable[[str], dict[str, str]] = list_heads,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Ask ``read`` for a repository's branches; remember the answer for ``ttl_s``."""
        self._ttl = ttl_s
        self._read = read
        self._clock = clock
        self._known: dict[str, _Read] = {}  # the latest finished read of each repository
        self._reading: dict[str, _Read] = {}  # the latest read in flight of each repository
        self._lock = threading.Lock()

    def head(self, repo_url: str, branch: str) -> str:
        """The head of ``branch`` now (read no earlier than this call)."""
        return _head_in(self._heads(repo_url, since=self._clock()), branch)

    def remembered(self, repo_url: str, branch: str) -> bool:
        """Whether ``branch`` is known to exist from a read younger than the TTL (never
        blocks: what :meth:`require` answers at once)."""
        with self._lock:
            known = self._known.get(repo_url)
        return (
            known is not None
            and branch in known.heads
            and self._clock() - known.started < self._ttl
        )

    def require(self, repo_url: str, branch: str) -> None:
        """Return if ``branch`` exists (remembered, or asked again); else :class:`BranchMissing`."""
        if self.remembered(repo_url, branch):
            return
        asked = self._clock()
        with self._lock:
            known = self._known.get(repo_url)
        if (
            known is not None
            and branch in known.heads
            and branch in self._heads(repo_url, since=asked - self._ttl, cached=True)
        ):
            return
        _head_in(self._heads(repo_url, since=asked), branch)

    def _heads(self, repo_url: str, *, since: float, cached: bool = False) -> dict[str, str]:
        """The branches as read by a read begun at ``since`` or later: the remembered one
        (when ``cached``), the one in flight, or a new one."""
        with self._lock:
            known = self._known.get(repo_url)
            if cached and known is not None and known.started >= since:
                return known.heads
            read, mine = self._reading.get(repo_url), False
            if read is None or read.started < since:
                read, mine = _Read(started=self._clock()), True
                self._reading[repo_url] = read
        if mine:
            self._run(repo_url, read)
        else:
            read.done.wait()
        if read.error is not None:
            if mine:
                raise read.error
            raise BranchUnknown(str(read.error)) from read.error
        return read.heads

    def _run(self, repo_url: str, read: _Read) -> None:
        try:
            read.heads = self._read(repo_url)
        except Exception as e:  # any failure: handed to every caller that joined this read
            read.error = e
        with self._lock:
            if self._reading.get(repo_url) is read:
                del self._reading[repo_url]
            latest = self._known.get(repo_url)
            if read.error is None and (latest is None or latest.started <= read.started):
                self._known[repo_url] = read
        read.done.set()
