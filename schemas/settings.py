"""Where Sluice's real services live, read once from ``SLUICE_*`` environment variables.

Every process (API, processors, runners, tools, tests) builds one :class:`ServiceSettings`
at its edge with :meth:`ServiceSettings.from_env` and passes it down explicitly. It sits in
``schemas`` beside the topic catalogue because both are the shared wire-level contract of
every process, and ``schemas`` imports nothing else of ours.

| variable | default |
| --- | --- |
| ``SLUICE_KAFKA_BOOTSTRAP`` | ``127.0.0.1:9092`` |
| ``SLUICE_TOPIC_PREFIX`` | empty (tests set their own) |
| ``SLUICE_PG_DSN`` | ``postgresql://sluice:sluice@127.0.0.1:5432/sluice`` |
| ``SLUICE_S3_ENDPOINT`` | ``127.0.0.1:9000`` |
| ``SLUICE_S3_ACCESS_KEY`` / ``SLUICE_S3_SECRET_KEY`` | ``sluice`` / ``sluice-dev-secret`` |
| ``SLUICE_S3_SECURE`` | ``false`` |
| ``SLUICE_ARTIFACT_BUCKET`` / ``SLUICE_LOG_BUCKET`` | ``sluice-artifacts`` / ``sluice-logs`` |
| ``SLUICE_REGISTRY`` | ``127.0.0.1:5000`` |
| ``SLUICE_DOCKER_HOST`` | ``unix:///var/run/docker.sock`` |
| ``SLUICE_PROMETHEUS_URL`` | ``http://127.0.0.1:9090`` |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ServiceSettings"]

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Addresses and credentials of the services every Sluice process talks to."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    pg_dsn: str = "postgresql://sluice:sluice@127.0.0.1:5432/sluice"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "sluice"
    s3_secret_key: str = "sluice-dev-secret"
    s3_secure: bool = False
    artifact_bucket: str = "sluice-artifacts"
    log_bucket: str = "sluice-logs"
    registry: str = "127.0.0.1:5000"
    docker_host: str = "unix:///var/run/docker.sock"
    prometheus_url: str = "http://127.0.0.1:9090"
    haproxy_dir: str = os.path.expanduser("~/.local/state/sluice/haproxy")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        """Build settings from ``SLUICE_*`` variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        base = cls()

        def get(name: str, default: str) -> str:
            return env.get(f"SLUICE_{name}", default)

        return cls(
            kafka_bootstrap=get("KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            topic_prefix=get("TOPIC_PREFIX", base.topic_prefix),
            pg_dsn=get("PG_DSN", base.pg_dsn),
            s3_endpoint=get("S3_ENDPOINT", base.s3_endpoint),
            s3_access_key=get("S3_ACCESS_KEY", base.s3_access_key),
            s3_secret_key=get("S3_SECRET_KEY", base.s3_secret_key),
            s3_secure=get("S3_SECURE", "false").lower() in _TRUE,
            artifact_bucket=get("ARTIFACT_BUCKET", base.artifact_bucket),
            log_bucket=get("LOG_BUCKET", base.log_bucket),
            registry=get("REGISTRY", base.registry),
            docker_host=get("DOCKER_HOST", base.docker_host),
            prometheus_url=get("PROMETHEUS_URL", base.prometheus_url),
            haproxy_dir=get("HAPROXY_DIR", _haproxy_dir(env)),
        )


def _haproxy_dir(env: Mapping[str, str]) -> str:
    """Where infra/up keeps HAProxy's sockets and environment files."""
    state = env.get("SLUICE_STATE_DIR") or os.path.expanduser("~/.local/state/sluice")
    return os.path.join(state, "haproxy")
