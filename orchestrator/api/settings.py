"""The API process's own settings, read once from ``SLUICE_API_*`` variables at the edge.

| variable | default |
| --- | --- |
| ``SLUICE_API_HOST`` / ``SLUICE_API_PORT`` | ``127.0.0.1`` / ``8080`` |
| ``SLUICE_API_PUBLIC_URL`` | ``http://<host>:<port>`` (base of ``web_url`` and download links) |
| ``SLUICE_PG_SCHEMA`` | ``public`` (read model and the API's tables) |
| ``SLUICE_ARTIFACT_MAX_BYTES`` | ``5368709120`` (5 GiB) |
| ``SLUICE_ARTIFACT_EXPIRE_DAYS`` | ``30`` (uploads through the API) |
| ``SLUICE_ARTIFACT_URL_TTL`` | ``3600`` s a signed artifact ``download_url`` stays valid |
| ``SLUICE_API_RATE`` / ``SLUICE_API_BURST`` | ``20``/s, bursts of ``40``, per token and process |
| ``SLUICE_API_ANSWER_TIMEOUT`` | ``10`` s to wait for the trigger processor's answer |
| ``SLUICE_API_ROW_CACHE`` | ``5`` s at most a token or pipeline is served from memory (dropped at \
once when PostgreSQL notices its table changed) |
| ``SLUICE_API_CRON_INTERVAL`` | ``5`` s between scans of due cron schedules |
| ``SLUICE_API_GC_INTERVAL`` | ``3600`` s between retention sweeps of expired artifacts |
| ``SLUICE_SECRETS_KEY`` / ``SLUICE_STATE_DIR`` | as for runners (the Fernet key of secrets) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["ApiSettings"]


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """How one API process serves: address, limits, timeouts and background loops."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    pg_schema: str = "public"
    artifact_max_bytes: int = 5 * 1024**3
    artifact_expire_days: float = 30.0
    artifact_url_ttl_s: int = 3600
    rate_per_s: float = 20.0
    burst: int = 40
    answer_timeout_s: float = 10.0
    row_cache_s: float = 5.0
    cron_interval_s: float = 5.0
    gc_interval_s: float = 3600.0
    secrets_key: str | None = None
    state_dir: Path = Path.home() / ".local" / "state" / "sluice"

    @property
    def base_url(self) -> str:
        """Where clients reach this API (``public_url`` or host and port)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def with_address(self, host: str, port: int) -> ApiSettings:
        """The same settings, serving on ``host:port``."""
        return replace(self, host=host, port=port)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Build the settings from ``SLUICE_*`` variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        base = cls()

        def get(name: str, default: object) -> str:
            return env.get(f"SLUICE_{name}", str(default))

        return cls(
            host=get("API_HOST", base.host),
            port=int(get("API_PORT", base.port)),
            public_url=get("API_PUBLIC_URL", ""),
            pg_schema=get("PG_SCHEMA", base.pg_schema),
            artifact_max_bytes=int(get("ARTIFACT_MAX_BYTES", base.artifact_max_bytes)),
            artifact_expire_days=float(get("ARTIFACT_EXPIRE_DAYS", base.artifact_expire_days)),
            artifact_url_ttl_s=int(get("ARTIFACT_URL_TTL", base.artifact_url_ttl_s)),
            rate_per_s=float(get("API_RATE", base.rate_per_s)),
            burst=int(get("API_BURST", base.burst)),
            answer_timeout_s=float(get("API_ANSWER_TIMEOUT", base.answer_timeout_s)),
            row_cache_s=float(get("API_ROW_CACHE", base.row_cache_s)),
            cron_interval_s=float(get("API_CRON_INTERVAL", base.cron_interval_s)),
            gc_interval_s=float(get("API_GC_INTERVAL", base.gc_interval_s)),
            secrets_key=env.get("SLUICE_SECRETS_KEY") or None,
            state_dir=Path(get("STATE_DIR", base.state_dir)),
        )
