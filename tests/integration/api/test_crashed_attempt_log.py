"""A crashed attempt's log is archived like a finished one's: a real runner process is killed
(SIGKILL) mid-stage, the next runner's reaper ends the attempt and runs the next one, and the
sweep (``sluice gc``'s log archiver) stores the dead attempt's log in MinIO from ``log_lines``
and reports ``LogArchived``; ``GET /runs/{id}/logs?stage=&attempt=1`` then serves it from the
archive, and the finished attempt 2 from its own."""

from __future__ import annotations

import gzip
import io
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from minio import Minio

from orchestrator.api.db import Database
from orchestrator.api.log_archiver import GIVE_UP, NOTE, archive_stranded_logs, stranded
from orchestrator.api.publish import append
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from runners.artifacts import log_key
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, register
from tests.support.waiting import eventually

CRASHY = """
name: crashy
stages:
  build:
    script:
      - echo "started attempt $SLUICE_ATTEMPT"
      - if [ "$SLUICE_ATTEMPT" = 1 ]; then sleep 300; fi
"""


def _attempt_log(deployment: Deployment, run_id: str, attempt: int) -> httpx.Response:
    with deployment.client() as http:
        return http.get(f"/runs/{run_id}/logs", params={"stage": "build", "attempt": attempt})


def _stage(deployment: Deployment, pipeline_id: str, run_id: str) -> dict[str, object]:
    with deployment.client() as http:
        run = http.get(f"/pipelines/{pipeline_id}/runs/{run_id}").json()
    stage: dict[str, object] = run["stages"][0]
    return stage


def _archive_listed(db: Database, attempt: tuple[str, str, int]) -> bool:
    with db.connection() as conn:
        row = conn.execute(
            "SELECT 1 FROM log_archives WHERE run_id = %s AND stage = %s AND attempt = %s", attempt
        ).fetchone()
    return row is not None


def test_a_crashed_attempts_log_is_archived_and_served_from_the_archive(
    deployment: Deployment,
    runners: Callable[[], subprocess.Popen[bytes]],
    minio_client: Minio,
    tmp_path: Path,
) -> None:
    pipeline = register(deployment, tmp_path, CRASHY)
    doomed = runners()
    with deployment.client() as http:
        body = {"branch": "main", "commit_sha": pipeline.sha}
        run_id = http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body).json()["run_id"]
    eventually(
        lambda: "started attempt 1" in _attempt_log(deployment, run_id, 1).text,
        timeout=90,
        what="attempt 1 to log",
    )
    doomed.kill()  # SIGKILL: the attempt never ends on its own runner
    doomed.wait()
    runners()  # its reaper fails attempt 1 (infrastructure); attempt 2 runs and succeeds
    eventually(
        lambda: _stage(deployment, pipeline.pipeline_id, run_id)["status"] == "success",
        timeout=180,  # a reaper's report, a back-off and a fresh container: slow on a busy host
        what="attempt 2 to succeed",
    )
    assert "runner stopped" not in _attempt_log(deployment, run_id, 1).text  # not archived yet

    db = Database(dsn=deployment.settings.pg_dsn, schema=deployment.schema, size=2)
    bucket = deployment.settings.log_bucket
    try:
        eventually(  # attempt 2's runner reports its own archive: the sweep is for attempt 1
            lambda: _archive_listed(db, (run_id, "build", 2)),
            what="attempt 2's archive to be recorded",
        )
        inbox = TopicNames(deployment.settings.topic_prefix).inbox
        archived = archive_stranded_logs(
            db, minio_client, producer(deployment.settings), inbox=inbox, bucket=bucket,
            key_prefix=deployment.settings.topic_prefix, grace_s=0,
        )  # fmt: skip
        again = eventually(
            lambda: _attempt_log(deployment, run_id, 1).text.endswith(NOTE) or None,
            what="attempt 1 to be served from its archive",
        )
        assert again
        with db.connection() as conn:  # the projection lists the archive: swept no more
            now = datetime.now(UTC)
            assert (run_id, "build", 1) not in stranded(conn, now, now - GIVE_UP)
    finally:
        db.close()
    assert archived >= 1
    key = log_key(deployment.settings.topic_prefix, run_id, "build", 1)
    stored = gzip.decompress(minio_client.get_object(bucket, key).read()).decode()
    assert stored.startswith("[sluice] runner ") and "started attempt 1\n" in stored
    assert stored.endswith(NOTE)
    second = _attempt_log(deployment, run_id, 2).text
    assert "started attempt 2" in second and "stage succeeded" in second
    for attempt in (1, 2):
        minio_client.remove_object(
            bucket, log_key(deployment.settings.topic_prefix, run_id, "build", attempt)
        )


def test_the_sweep_records_an_archive_already_stored_and_never_overwrites_it(
    deployment: Deployment, minio_client: Minio, tmp_path: Path
) -> None:
    """A runner that stored its attempt's archive and died before reporting it: the sweep
    records that archive as it is, never replacing it with the lines it rebuilt."""
    pipeline = register(
        deployment, tmp_path, "name: quiet\nstages:\n  build:\n    script: [echo hi]\n"
    )
    with deployment.client() as http:
        body = {"branch": "main", "commit_sha": pipeline.sha}
        run_id = http.post(f"/pipelines/{pipeline.pipeline_id}/runs", json=body).json()["run_id"]
        chunk = LogChunk(
            run_id=run_id, stage="build", attempt=1, seq=0, stream=LogStream.STDOUT,
            data="rebuilt from the lines\n", final=False, occurred_at_ms=time.time_ns() // 10**6,
        )  # fmt: skip
        append(producer(deployment.settings), _names(deployment).logs, f"{run_id}/build/1", chunk)
        assert http.post(f"/runs/{run_id}/cancel").status_code == 202
    eventually(
        lambda: (
            _stage(deployment, pipeline.pipeline_id, run_id)["status"] == "cancelled"
            and "rebuilt from the lines" in _attempt_log(deployment, run_id, 1).text
        ),
        what="the attempt to be over with its line projected",
    )
    bucket = deployment.settings.log_bucket
    key = log_key(deployment.settings.topic_prefix, run_id, "build", 1)
    stored = gzip.compress(b"stored by its runner\n")
    minio_client.put_object(bucket, key, io.BytesIO(stored), len(stored))
    db = Database(dsn=deployment.settings.pg_dsn, schema=deployment.schema, size=2)
    try:
        archived = archive_stranded_logs(
            db, minio_client, producer(deployment.settings), inbox=_names(deployment).inbox,
            bucket=bucket, key_prefix=deployment.settings.topic_prefix, grace_s=0,
        )  # fmt: skip
        served = eventually(
            lambda: (t := _attempt_log(deployment, run_id, 1).text).startswith("stored") and t,
            what="the stored archive to be served",
        )
    finally:
        db.close()
    assert archived >= 1
    assert served == "stored by its runner\n"
    assert minio_client.get_object(bucket, key).read() == stored
    minio_client.remove_object(bucket, key)


def _names(deployment: Deployment) -> TopicNames:
    return TopicNames(deployment.settings.topic_prefix)
