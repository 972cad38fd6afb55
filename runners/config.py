"""The runner's own settings, read once from ``SLUICE_*`` variables at the edge.

| variable | default |
| --- | --- |
| ``SLUICE_STATE_DIR`` | ``~/.local/state/sluice`` (workspaces, secrets key, runner locks) |
| ``SLUICE_SECRETS_KEY`` | unset: ``<state>/secrets.key`` (``sluice secrets init-key``) |
| ``SLUICE_ARTIFACT_MAX_BYTES`` | ``5368709120`` (5 GiB) |
| ``SLUICE_PG_SCHEMA`` | ``public`` (where the secrets and flaky-test tables live) |
| ``SLUICE_CONTAINER_USER`` | ``65534:65534`` (nobody: stages never run as root) |
| ``SLUICE_PIDS_LIMIT`` | ``1024`` |
| ``SLUICE_WARM_IMAGES`` | ``10`` (most used images of 7 days, pulled at start; ``-1``: none) |
| ``SLUICE_CACHE_MAX_BYTES`` | ``2147483648`` (2 GiB: a bigger cache is not saved) |
| ``SLUICE_CACHE_EXPIRY_DAYS`` | ``7`` (an older cache is a miss) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_ARTIFACT_MAX_BYTES", "RunnerConfig"]

DEFAULT_ARTIFACT_MAX_BYTES = 5 * 1024**3
DEFAULT_CACHE_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """Where a runner keeps its state and the limits it applies to every stage."""

    state_dir: Path = Path.home() / ".local" / "state" / "sluice"
    secrets_key: str | None = None
    artifact_max_bytes: int = DEFAULT_ARTIFACT_MAX_BYTES
    pg_schema: str = "public"
    container_user: str = "65534:65534"
    pids_limit: int = 1024
    warm_images: int = 10  # most used images pulled at start (plus the catalogue); -1: none
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    cache_expiry_s: float = 7 * 86_400.0
    key_prefix: str = ""  # before every object key; tests isolate themselves with it

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunnerConfig:
        """Build the config from ``SLUICE_*`` variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        base = cls()
        return cls(
            state_dir=Path(env.get("SLUICE_STATE_DIR", str(base.state_dir))),
            secrets_key=env.get("SLUICE_SECRETS_KEY") or None,
            artifact_max_bytes=int(
                env.get("SLUICE_ARTIFACT_MAX_BYTES", str(base.artifact_max_bytes))
            ),
            pg_schema=env.get("SLUICE_PG_SCHEMA", base.pg_schema),
            container_user=env.get("SLUICE_CONTAINER_USER", base.container_user),
            pids_limit=int(env.get("SLUICE_PIDS_LIMIT", str(base.pids_limit))),
            warm_images=int(env.get("SLUICE_WARM_IMAGES", str(base.warm_images))),
            cache_max_bytes=int(env.get("SLUICE_CACHE_MAX_BYTES", str(base.cache_max_bytes))),
            cache_expiry_s=float(env.get("SLUICE_CACHE_EXPIRY_DAYS", "7")) * 86_400.0,
        )

    @property
    def work_dir(self) -> Path:
        """Where attempts' checkouts and workspaces live."""
        return self.state_dir / "runner" / "work"

    @property
    def locks_dir(self) -> Path:
        """Where each live runner holds a lock file (a free lock means a dead runner)."""
        return self.state_dir / "runner" / "locks"
