"""Images and caches, each figure beside its raw floor measured in the same run.

Prints:
  * stage start on a warm image (already on the host) and on a cold one (pulled from the
    registry first), through the runner's own container path (look up, pull, create,
    attach, start, wait for ``true``), beside a bare ``docker run --rm`` of the same image;
    goal: warm ≤ bare + 50 ms;
  * a cache save + restore of 100 MB (the runner's streamed tar to and from MinIO) beside a
    raw MinIO PUT + GET of the same bytes; goal: ≥ 80 % of the raw throughput;
  * each catalogue image's first build (``--force``: no layer cache) and its second,
    cached one (the registry already holds it as its line says), with the image's size.
Run: .venv/bin/python bench/images.py   (BENCH_STARTS=10, BENCH_CACHE_MB=100,
     BENCH_IMAGES=python:3.11 or "all": every catalogue image, a few minutes each)
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
from minio import Minio

from orchestrator.domain import CacheSpec, StageSpec
from orchestrator.domain.jobs import Job
from orchestrator.domain.statuses import Priority
from runners.artifacts import MinioArtifactStore
from runners.caches import CacheRun
from runners.executor import ContainerSpec, DockerContainers, image_ref
from runners.toolchains import ToolchainBuilder, find, load_catalogue
from schemas.settings import ServiceSettings

STARTS = int(os.environ.get("BENCH_STARTS", "10"))
CACHE_MB = int(os.environ.get("BENCH_CACHE_MB", "100"))
IMAGES = os.environ.get("BENCH_IMAGES", "python:3.11")
START_IMAGE = "python:3.11"


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def bare_docker_run(ref: str) -> list[float]:
    times = []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", ref, "true"], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def runner_start(containers: DockerContainers, image: str, work: Path) -> float:
    """The runner's path from image lookup to a finished ``true`` container, in ms."""
    spec = ContainerSpec(
        image=image_ref(image, containers.registry), script="true", env={}, src=work, work=work,
        user="65534:65534", cpus=1.0, memory_bytes=512 * 1024**2, pids_limit=256,
    )  # fmt: skip
    t0 = time.perf_counter()
    containers.is_local(image)
    containers.pull(image)
    running = containers.start(spec, lambda _stream, _data: None)
    while running.wait(5) is None:
        pass
    took = (time.perf_counter() - t0) * 1000
    running.remove()
    return took


def cold_image(settings: ServiceSettings) -> str:
    """A new image (python:3.11 + 20 MB of its own), pushed, then removed from this host."""
    name = f"bench-cold:{uuid.uuid4().hex[:12]}"
    ref = image_ref(name, settings.registry)
    dockerfile = (
        f"FROM {image_ref(START_IMAGE, settings.registry)}\n"
        "RUN head -c 20000000 /dev/urandom > /blob\n"
    )
    client = docker.from_env()
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True)
    repository, _, tag = ref.rpartition(":")
    for line in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(line["error"])
    client.images.remove(ref, force=True)
    client.close()
    return name


def stage_starts(settings: ServiceSettings) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        containers = DockerContainers(
            docker_host=settings.docker_host, registry=settings.registry,
            runner_id=f"bench-{uuid.uuid4().hex[:6]}", lock_path=work / "lock", work_root=work,
        )  # fmt: skip
        containers.pull(START_IMAGE)
        bare = bare_docker_run(image_ref(START_IMAGE, settings.registry))
        warm = [runner_start(containers, START_IMAGE, work) for _ in range(STARTS)]
        cold = [runner_start(containers, cold_image(settings), work) for _ in range(3)]
        containers.close()
    print(f"stage start, {START_IMAGE}, p50 of {STARTS}:")
    print(f"  bare `docker run --rm`   {p50(bare):7.0f} ms   (floor)")
    print(f"  runner, warm image       {p50(warm):7.0f} ms   ({p50(warm) - p50(bare):+.0f} ms; "
          "goal ≤ bare + 50 ms)")  # fmt: skip
    print(f"  runner, cold image       {p50(cold):7.0f} ms   (p50 of 3 new images: their own"
          " 20 MB layer pulled from the local registry)")  # fmt: skip


def _job(pipeline_id: str) -> Job:
    stage = StageSpec(name="bench", cache=CacheSpec(key="bench-cache", paths=("blob",)))
    return Job(
        job_id="bench/bench/1", run_id="bench", pipeline_id=pipeline_id, stage=stage,
        attempt=1, priority=Priority.NORMAL, repo_url="file:///dev/null", commit_sha="0" * 40,
        branch="main", variables={}, upstream_stages=(), lease_ms=60_000, enqueued_at_ms=0,
    )  # fmt: skip


def cache_round_trips(settings: ServiceSettings) -> None:
    """Three rounds, Sluice and the floor interleaved; medians (the machine is shared)."""
    rounds = [cache_round_trip(settings) for _ in range(3)]
    ours, floor = p50([r[0] for r in rounds]), p50([r[1] for r in rounds])
    print(f"cache of {CACHE_MB} MB, save + restore, median of 3: {ours:.2f} s"
          f" ({CACHE_MB / ours:.0f} MB/s); raw MinIO PUT + GET {floor:.2f} s (floor);"
          f" Sluice reaches {floor / ours:.0%} of it (goal ≥ 80 %)")  # fmt: skip


def cache_round_trip(settings: ServiceSettings) -> tuple[float, float]:
    store = MinioArtifactStore(settings)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    raw = Minio(settings.s3_endpoint, access_key=settings.s3_access_key,
                secret_key=settings.s3_secret_key, secure=settings.s3_secure)  # fmt: skip
    size = CACHE_MB * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        src, work, back = Path(tmp, "src"), Path(tmp, "work"), Path(tmp, "back")
        for d in (src, work, back):
            d.mkdir()
        (work / "blob").write_bytes(os.urandom(size))
        said: list[str] = []
        run = CacheRun(store=store, job=_job("bench"), key_prefix=prefix,
                       max_bytes=2 * size, expiry_s=3600)  # fmt: skip
        t0 = time.perf_counter()
        run.save(src, work, said.append)
        t1 = time.perf_counter()
        CacheRun(store=store, job=_job("bench"), key_prefix=prefix, max_bytes=2 * size,
                 expiry_s=3600).restore(src, back, said.append)  # fmt: skip
        t2 = time.perf_counter()
        assert (back / "blob").stat().st_size == size, said
        key = f"{prefix}raw/blob"
        r0 = time.perf_counter()
        raw.fput_object(settings.artifact_bucket, key, str(work / "blob"))
        r1 = time.perf_counter()
        raw.fget_object(settings.artifact_bucket, key, str(Path(tmp, "raw-back")))
        r2 = time.perf_counter()
        for obj in raw.list_objects(settings.artifact_bucket, prefix, recursive=True):
            raw.remove_object(settings.artifact_bucket, obj.object_name or "")
    print(f"  cache save {t1 - t0:.2f} s + restore {t2 - t1:.2f} s;"
          f" raw PUT {r1 - r0:.2f} s + GET {r2 - r1:.2f} s")  # fmt: skip
    return t2 - t0, r2 - r0


def builds(settings: ServiceSettings) -> None:
    catalogue = load_catalogue()
    wanted = list(catalogue) if IMAGES == "all" else [find(catalogue, n) for n in IMAGES.split(",")]
    builder = ToolchainBuilder(docker_host=settings.docker_host, registry=settings.registry)
    client = docker.from_env()
    print("catalogue image builds (first: no layer cache; second: cached):")
    for toolchain in wanted:
        t0 = time.perf_counter()
        builder.ensure(toolchain, lambda _line: None, force=True)
        t1 = time.perf_counter()
        rebuilt = builder.ensure(toolchain, lambda _line: None)
        t2 = time.perf_counter()
        size = client.images.get(image_ref(toolchain.ref, settings.registry)).attrs["Size"]
        print(f"  {toolchain.ref:<13} first {t1 - t0:6.1f} s, second {t2 - t1:5.2f} s"
              f" ({'rebuilt' if rebuilt else 'reused'}), {size / 1e6:.0f} MB")  # fmt: skip
    builder.close()
    client.close()


def main() -> None:
    settings = ServiceSettings.from_env()
    stage_starts(settings)
    cache_round_trips(settings)
    builds(settings)


if __name__ == "__main__":
    main()
