"""Creates what Sluice needs inside the running services: Kafka topics from the catalogue,
MinIO buckets, and PostgreSQL migrations. Idempotent; called by infra/up after the services
answer. Usage: python infra/bootstrap.py [service ...]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient, NewTopic
from minio import Minio

from projections.migrate import migrate
from runners.artifacts import MinioArtifactStore
from runners.caches import expire_caches
from runners.config import RunnerConfig
from schemas.pg import connect
from schemas.settings import ServiceSettings


def ensure_topics(settings: ServiceSettings) -> str:
    """Create every catalogue topic that is missing; return a one-line summary."""
    from schemas.topics import TOPICS, topic_configs  # noqa: PLC0415 (only this step needs it)

    brokers = int(os.environ.get("SLUICE_KAFKA_BROKERS", "1"))
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=30).topics)
    wanted = [t for t in TOPICS if settings.topic_prefix + t.name not in existing]
    replication = 3 if brokers > 1 else 1
    new = [
        NewTopic(
            settings.topic_prefix + t.name,
            num_partitions=t.partitions,
            replication_factor=replication,
            config=topic_configs(t, replication=replication),
        )
        for t in wanted
    ]
    if new:
        for future in admin.create_topics(new, request_timeout=30).values():
            future.result()
    return f"{len(TOPICS)} topics ({len(new)} created)"


def ensure_buckets(settings: ServiceSettings) -> str:
    """Create the artifact and log buckets when missing; have MinIO delete old caches."""
    client = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    made = 0
    for bucket in (settings.artifact_bucket, settings.log_bucket):
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
            made += 1
    runner = RunnerConfig.from_env()
    expire_caches(MinioArtifactStore(settings), runner.key_prefix, runner.cache_expiry_s)
    return (
        f"buckets {settings.artifact_bucket}, {settings.log_bucket} ({made} created), "
        f"caches deleted {runner.cache_expiry_s / 86_400:g} days after expiry"
    )


def ensure_schema(settings: ServiceSettings) -> str:
    """Apply the missing database migrations."""
    with connect(settings.pg_dsn, schema="public", name="sluice-bootstrap") as conn:
        done = migrate(conn)
    return f"migrations ({len(done)} applied now)"


STEPS: dict[str, Callable[[ServiceSettings], str]] = {
    "kafka": ensure_topics,
    "minio": ensure_buckets,
    "postgres": ensure_schema,
}


def main(services: list[str]) -> int:
    settings = ServiceSettings.from_env()
    for service, step in STEPS.items():
        if services and service not in services:
            continue
        started = time.monotonic()
        try:
            summary = step(settings)
        except Exception as e:  # report every failure the same way, naming the service
            print(f"        FAILED {service}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(f"        ok  {service}: {summary} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
