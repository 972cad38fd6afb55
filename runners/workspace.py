"""Each attempt's directories on the host: the source checkout and the writable workspace.

``<work>/<runner>/<job>/src`` holds the repository at the job's exact commit and is mounted
read-only at ``/src``; ``<work>/<runner>/<job>/workspace`` is mounted writable at
``/workspace`` (the stage's working directory, where upstream artifacts are unpacked and
declared artifact paths are collected). Both belong to the container user, and both are
removed when the attempt ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from runners.errors import WorkspaceError

__all__ = ["Workspace", "checkout", "hand_over", "prepare", "remove"]

_GIT_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Workspace:
    """The host directories of one attempt."""

    root: Path

    @property
    def src(self) -> Path:
        """The checkout, mounted read-only at /src."""
        return self.root / "src"

    @property
    def work(self) -> Path:
        """The writable workspace, mounted at /workspace."""
        return self.root / "workspace"


def prepare(base: Path, name: str) -> Workspace:
    """Fresh, empty directories for one attempt under ``base``."""
    ws = Workspace(base / name)
    shutil.rmtree(ws.root, ignore_errors=True)
    ws.src.mkdir(parents=True)
    ws.work.mkdir()
    return ws


def checkout(ws: Workspace, *, repo_url: str, commit_sha: str) -> None:
    """Clone ``repo_url`` into ``ws.src`` and check out ``commit_sha`` (detached)."""
    if not repo_url:
        return
    _git("clone", "--quiet", "--no-checkout", repo_url, str(ws.src))
    _git("-C", str(ws.src), "checkout", "--quiet", "--detach", commit_sha)


def hand_over(ws: Workspace, user: str) -> None:
    """Give the workspace to the container's ``uid:gid`` (it must write there)."""
    uid, _, gid = user.partition(":")
    for path in [ws.work, *ws.work.rglob("*")]:
        try:
            os.lchown(path, int(uid), int(gid or uid))
        except (OSError, ValueError):
            os.chmod(ws.work, 0o777)  # not root: let anyone write instead
            return


def remove(ws: Workspace) -> None:
    """Delete the attempt's directories."""
    shutil.rmtree(ws.root, ignore_errors=True)


def _git(*args: str) -> None:
    try:
        subprocess.run(
            ["git", *args],
            check=True,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except subprocess.CalledProcessError as e:
        detail = e.stderr.decode(errors="replace").strip()
        raise WorkspaceError(
            f"git {args[0]} failed: {detail}; check the repository URL and commit"
        ) from e
    except (OSError, subprocess.TimeoutExpired) as e:
        raise WorkspaceError(f"git {args[0]} could not run: {e}") from e
