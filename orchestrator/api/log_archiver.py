"""Archiving the logs no runner archived (``sluice gc``, and the API's retention loop).

A runner archives each attempt's log when the attempt ends, whatever its outcome. A runner
that dies mid-attempt (``kill -9``, a lost host) never does: its attempt ends by the next
runner's reaper or by its lease, and its log lives only as chunks on ``sluice.logs`` and
lines in ``log_lines``. The sweep finds such attempts — over (the stage moved on to a later
attempt, or ended), silent for ``grace_s``, with no archive — rebuilds each one's text from
``log_lines`` (the chunks joined, so the same text the runner would have archived, plus a
note saying what happened), stores it gzipped where the runner would have
(:func:`runners.artifacts.log_key`), and appends ``LogArchived`` to the inbox, acknowledged.
From then on ``?attempt=N`` serves it from object storage like any other, and the
``log_lines`` projection lists it in ``log_archives`` (so the next sweep skips it).

An archive already in object storage is never overwritten: a runner reports its attempt's
outcome before it stores the archive, so a sweep can see a finished attempt whose archive
is being stored or reported. One stored within ``grace_s`` is left to its runner; an older
one (its runner died between storing and reporting) is recorded as it is.
"""

from __future__ import annotations

import gzip
import io
import time
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer as KafkaProducer
from minio import Minio
from minio.datatypes import Object
from minio.error import MinioException, S3Error

from orchestrator.api.db import Database
from orchestrator.api.log_search import attempt_text
from orchestrator.api.publish import append
from orchestrator.api.retention import ArtifactStoreUnavailable
from orchestrator.domain import LogArchived
from runners.artifacts import log_key
from schemas.pg import Conn

__all__ = ["GIVE_UP", "GRACE_S", "NOTE", "archive_stranded_logs", "stranded"]

GRACE_S = 60.0  # a live attempt logs a system line at least at its end; silence this long
# the decider records a LogArchived only while its run is in the working state (24 h after
# it ended, orchestrator/domain/retention.py): an older attempt would be archived again and
# again, its event ignored each time
GIVE_UP = timedelta(hours=20)
NOTE = "[sluice] this attempt's runner stopped before archiving its log; archived by the sweep\n"
Key = tuple[str, str, int]


def archive_stranded_logs(
    db: Database,
    s3: Minio,
    producer: KafkaProducer,
    *,
    inbox: str,
    bucket: str,
    key_prefix: str = "",
    grace_s: float = GRACE_S,
    now: datetime | None = None,
) -> int:
    """Archive every ended attempt's log that has no archive; how many were archived."""
    now = now or datetime.now(UTC)
    with db.connection() as conn:
        due = stranded(conn, now - timedelta(seconds=grace_s), now - GIVE_UP)
        texts = [(k, attempt_text(conn, *k)) for k in due]
    done = 0
    for key, text in texts:
        if text is None:
            continue
        stat = _stat(s3, bucket, log_key(key_prefix, *key))
        if stat is None:
            archived = _store(s3, bucket, key_prefix, key, text)
        elif stat.last_modified is None or stat.last_modified > now - timedelta(seconds=grace_s):
            continue  # its runner stored it a moment ago and reports it itself
        else:  # a runner that died between storing the archive and reporting it
            archived = _recorded(s3, bucket, key_prefix, key, stat)
        append(producer, inbox, archived.run_id, archived)
        done += 1
    return done


def _store(s3: Minio, bucket: str, prefix: str, attempt: Key, text: str) -> LogArchived:
    """Store ``text`` (and the note) as the attempt's archive; the event saying so."""
    run_id, stage, number = attempt
    whole = (text if text.endswith("\n") or not text else text + "\n") + NOTE
    key = log_key(prefix, run_id, stage, number)
    size = _put(s3, bucket, key, gzip.compress(whole.encode()))
    return LogArchived(
        run_id=run_id,
        stage=stage,
        attempt=number,
        storage_path=f"{bucket}/{key}",
        size_bytes=size,
        lines=whole.count("\n"),
        occurred_at_ms=time.time_ns() // 1_000_000,
    )


def stranded(conn: Conn, silent_since: datetime, after: datetime) -> list[Key]:
    """Attempts that last logged between ``after`` and ``silent_since``, are over, and have
    no archive: a later attempt of the stage exists, or the stage is no longer live."""
    rows = conn.execute(
        "SELECT t.run_id, t.stage, t.attempt FROM log_line_tails t"
        " JOIN stages s ON s.run_id = t.run_id AND s.name = t.stage"
        " WHERE t.logged_at < %s AND t.logged_at > %s"
        " AND (s.attempt > t.attempt OR s.status NOT IN ('queued', 'running'))"
        " AND NOT EXISTS (SELECT 1 FROM log_archives a WHERE a.run_id = t.run_id"
        "  AND a.stage = t.stage AND a.attempt = t.attempt)"
        " ORDER BY t.logged_at LIMIT 500",
        (silent_since, after),
    ).fetchall()
    return [(r, s, a) for r, s, a in rows]


def _stat(s3: Minio, bucket: str, key: str) -> Object | None:
    """The stored object, or ``None``: an archive a runner stored is never overwritten."""
    try:
        return s3.stat_object(bucket, key)
    except S3Error as e:
        if e.code in {"NoSuchKey", "NoSuchObject"}:
            return None
        raise ArtifactStoreUnavailable(f"cannot read the log archive {bucket}/{key}: {e}") from e
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot read the log archive {bucket}/{key}: {e}") from e


def _recorded(s3: Minio, bucket: str, prefix: str, attempt: Key, stat: Object) -> LogArchived:
    """The event recording an archive already stored (its lines counted from its text)."""
    run_id, stage, number = attempt
    key = log_key(prefix, run_id, stage, number)
    try:
        response = s3.get_object(bucket, key)
        try:
            text = gzip.decompress(response.read()).decode(errors="replace")
        finally:
            response.close()
            response.release_conn()
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot read the log archive {bucket}/{key}: {e}") from e
    return LogArchived(
        run_id=run_id,
        stage=stage,
        attempt=number,
        storage_path=f"{bucket}/{key}",
        size_bytes=stat.size or 0,
        lines=text.count("\n"),
        occurred_at_ms=time.time_ns() // 1_000_000,
    )


def _put(s3: Minio, bucket: str, key: str, data: bytes) -> int:
    try:
        s3.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/gzip")
    except MinioException as e:
        raise ArtifactStoreUnavailable(f"cannot archive the log {bucket}/{key}: {e}") from e
    return len(data)
