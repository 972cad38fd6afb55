"""The retention sweep (``sluice gc``, and the API every ``SLUICE_API_GC_INTERVAL`` seconds).

Retention is an event, not a deletion of read-model rows: for each artifact past its
``expires_at`` and not yet expired, the sweep appends ``ArtifactExpired`` to the inbox and
waits for Kafka's acknowledgement, THEN deletes the object. The decider accepts it once
(a repeat is fenced off as a duplicate), the projection marks the row ``expired_at``, and
``GET /artifacts/{id}`` answers 410 for it from then on, forever. A sweep that dies between
the two steps is finished by the next one (the row is still due; deleting is idempotent).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from confluent_kafka import Producer as KafkaProducer
from minio import Minio
from minio.error import MinioException

from orchestrator.api.db import Database
from orchestrator.api.publish import append
from orchestrator.domain import ArtifactExpired
from schemas.errors import InfrastructureError

__all__ = ["ArtifactStoreUnavailable", "collect_garbage"]


class ArtifactStoreUnavailable(InfrastructureError):
    """MinIO could not be reached or refused the operation; check it is up (infra/up)."""


def collect_garbage(
    db: Database, s3: Minio, producer: KafkaProducer, *, inbox: str, now: datetime | None = None
) -> int:
    """Expire every artifact due at ``now``: the event first, then the object; how many."""
    now = now or datetime.now(UTC)
    with db.connection() as conn:
        due = conn.execute(
            "SELECT artifact_id, run_id, stage, attempt, storage_path FROM artifacts"
            " WHERE expires_at <= %s AND expired_at IS NULL ORDER BY expires_at",
            (now,),
        ).fetchall()
    for artifact_id, run_id, stage, attempt, path in due:
        expired = ArtifactExpired(
            run_id=run_id,
            stage=stage,
            attempt=attempt,
            artifact_id=artifact_id,
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
        append(producer, inbox, run_id, expired)
        bucket, _, key = path.partition("/")
        try:
            s3.remove_object(bucket, key)
        except MinioException as e:
            raise ArtifactStoreUnavailable(f"cannot delete {path}: {e}") from e
    return len(due)
