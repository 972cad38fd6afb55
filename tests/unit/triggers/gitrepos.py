"""Real git repositories for tests: a bare origin reached by ``file://``, and commits to it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["GitRepo"]

_ENV = {
    "GIT_AUTHOR_NAME": "Sluice Tests",
    "GIT_AUTHOR_EMAIL": "tests@sluice.invalid",
    "GIT_COMMITTER_NAME": "Sluice Tests",
    "GIT_COMMITTER_EMAIL": "tests@sluice.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class GitRepo:
    """A bare repository under ``root`` and a work tree that pushes every commit to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=root)
        self._git("init", "--quiet", "--initial-branch=main", str(self.work), cwd=root)
        self._git("remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        """The ``file://`` URL of the bare repository."""
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], *, branch: str = "main") -> str:
        """Write ``files``, commit them on ``branch``, push, and return the commit's SHA."""
        self._git("checkout", "--quiet", "-B", branch)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "-m", f"change {sorted(files)}")
        self._git("push", "--quiet", "--force", "origin", branch)
        return self._git("rev-parse", "HEAD").strip()

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.work,
            env={**os.environ, **_ENV},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout
