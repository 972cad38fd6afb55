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


class BranchHeads:
    """Branches per repository, remembered for ``ttl_s`` (thread-safe)."""

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
        self._known: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def head(self, repo_url: str, branch: str) -> str:
        """The head of ``branch`` now (always asks the repository)."""
        return _head_in(self._fresh(repo_url), branch)

    def require(self, repo_url: str, branch: str) -> None:
        """Return if ``branch`` exists (remembered, or asked again); else :class:`BranchMissing`."""
        with self._lock:
            seen = self._known.get(repo_url)
        if seen is not None and self._clock() - seen[0] < self._ttl and branch in seen[1]:
            return
        _head_in(self._fresh(repo_url), branch)

    def _fresh(self, repo_url: str) -> dict[str, str]:
        heads = self._read(repo_url)
        with self._lock:
            self._known[repo_url] = (self._clock(), heads)
        return heads
