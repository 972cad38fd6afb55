"""Expired caches leave MinIO: at once when a lookup finds one, else by a lifecycle rule."""

from __future__ import annotations

from pathlib import Path

from minio import Minio

from infra.bootstrap import ensure_buckets
from orchestrator.domain.jobs import Job, job_id
from orchestrator.domain.model import CacheSpec, StageSpec
from orchestrator.domain.statuses import Priority
from runners.artifacts import MinioArtifactStore
from runners.caches import CacheRun, cache_key, caches_prefix
from schemas.settings import ServiceSettings


def _job(pipeline_id: str) -> Job:
    stage = StageSpec(
        name="deps", script=("true",), cache=CacheSpec(key="deps-v1", paths=("venv",))
    )
    return Job(
        job_id=job_id("run-1", "deps", 1),
        run_id="run-1",
        pipeline_id=pipeline_id,
        stage=stage,
        attempt=1,
        priority=Priority.NORMAL,
        repo_url="file:///nowhere",
        commit_sha="0" * 40,
        branch="main",
        lease_ms=60_000,
        enqueued_at_ms=0,
    )


def _stored_cache(store: MinioArtifactStore, tmp_path: Path, prefix: str, job: Job) -> str:
    work = tmp_path / "work"
    (work / "venv").mkdir(parents=True)
    (work / "venv" / "lib.py").write_text("x = 1\n")
    cache = CacheRun(store, job, prefix, max_bytes=1 << 20, expiry_s=3600)
    cache.save(tmp_path, work, lambda _: None)
    return cache_key(prefix, job.pipeline_id, "deps-v1")


def test_an_expired_cache_found_by_a_lookup_is_deleted_and_is_a_miss(
    settings: ServiceSettings, minio_client: Minio, tmp_path: Path, unique: str
) -> None:
    store, prefix, job = MinioArtifactStore(settings), f"{unique}/", _job("p")
    key = _stored_cache(store, tmp_path, prefix, job)
    assert store.stat(key=key) is not None
    said: list[str] = []
    late = CacheRun(store, job, prefix, max_bytes=1 << 20, expiry_s=0.0)
    late.restore(tmp_path, tmp_path / "back", said.append)
    assert said == ["cache miss: deps-v1 (expired: deleted)"]
    assert late.hit is False
    assert store.stat(key=key) is None


def test_infra_up_has_minio_delete_caches_a_day_after_they_expire(
    settings: ServiceSettings, minio_client: Minio
) -> None:
    summary = ensure_buckets(settings)
    assert "caches deleted 7 days after expiry" in summary
    lifecycle = minio_client.get_bucket_lifecycle(settings.artifact_bucket)
    assert lifecycle is not None
    rules = lifecycle.rules
    mine = [r for r in rules if r.rule_filter and r.rule_filter.prefix == caches_prefix("")]
    assert len(mine) == 1
    assert mine[0].expiration is not None
    assert mine[0].expiration.days == 8
