"""What a stage costs on a Sluice runner, beside the raw floors measured in the same run.

Prints:
  * no-op stage: ``RunCreated`` sent to the inbox → ``StageSucceeded`` appended to
    ``sluice.runs`` (decider + runner, real Kafka and Docker), p50/p90, beside a bare
    ``docker run --rm`` of the same image, and the difference;
  * artifact upload: the runner's streamed tar upload of one file (MB/s) beside a raw MinIO
    PUT of the same file, and the ratio.
Run: .venv/bin/python bench/stage_overhead.py   (BENCH_STAGES=20, BENCH_ARTIFACT_MB=256)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from cryptography.fernet import Fernet
from minio import Minio

from orchestrator.domain import Priority, RunCreated, TriggerSource, parse_pipeline
from orchestrator.wire import encode_event
from projections.decider import Decider
from runners.artifacts import MinioArtifactStore
from runners.config import RunnerConfig
from runners.executor import image_ref
from runners.main import run as run_runner
from schemas import codec
from schemas.eventlog import TopicNames, consumer, producer
from schemas.settings import ServiceSettings
from tests.support.stack import create_topics, delete_topics

STAGES = int(os.environ.get("BENCH_STAGES", "20"))
ARTIFACT_MB = int(os.environ.get("BENCH_ARTIFACT_MB", "256"))
NOOP = parse_pipeline("name: noop\nstages:\n  noop: {script: ['true']}\n").stages


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def bare_docker_run(image: str) -> list[float]:
    """Wall time of ``docker run --rm`` of ``image`` running ``true``, in ms."""
    times = []
    for _ in range(STAGES):
        t0 = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


class SucceededWatch:
    """Notes when each run's StageSucceeded reaches sluice.runs."""

    def __init__(self, settings: ServiceSettings, topics: TopicNames) -> None:
        self.at: dict[str, float] = {}
        self._c = consumer(settings, group=f"bench-{uuid.uuid4().hex}")
        self._c.subscribe([topics.runs])

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            msg = self._c.poll(0.01)
            if msg is None or msg.error() is not None:
                continue
            decoded = codec.decode(msg.value() or b"")
            if decoded.name == "StageSucceeded":
                self.at[decoded.value["run_id"]] = time.perf_counter()
        self._c.close()


def run_created(run_id: str) -> RunCreated:
    return RunCreated(
        run_id=run_id,
        pipeline_id="bench",
        pipeline_name="noop",
        branch="main",
        commit_sha="0" * 40,
        repo_url="",  # nothing to check out: the stage alone is measured
        source=TriggerSource.API,
        priority=Priority.NORMAL,
        variables={},
        dedup_key=run_id,
        stages=NOOP,
        occurred_at_ms=time.time_ns() // 1_000_000,
    )


def sluice_noop_stages(settings: ServiceSettings, prefix: str, state: Path) -> list[float]:
    """RunCreated → StageSucceeded on sluice.runs for sequential no-op runs, in ms."""
    topics, stop = TopicNames(prefix), threading.Event()
    decider = Decider(settings=settings, prefix=prefix, worker_id="bench")
    watch = SucceededWatch(settings, topics)
    key = Fernet.generate_key().decode()  # this bench's own: no secrets key file needed
    config = RunnerConfig(state_dir=state, key_prefix=f"bench/{prefix}", secrets_key=key)
    kwargs = {"prefix": prefix, "slots": 1, "runner_id": f"bench-{uuid.uuid4().hex[:8]}"}
    workers = [
        threading.Thread(target=decider.run, args=(stop,)),
        threading.Thread(target=watch.run, args=(stop,)),
        threading.Thread(
            target=run_runner, args=(settings,), kwargs={**kwargs, "stop": stop, "config": config}
        ),
    ]
    for w in workers:
        w.start()
    out = producer(settings)
    try:
        decider.ready.wait(60)
        return [one_run(out, topics, watch) for _ in range(STAGES + 2)][2:]  # 2 warm-ups
    finally:
        stop.set()
        for w in workers:
            w.join(60)


def one_run(out: Producer, topics: TopicNames, watch: SucceededWatch) -> float:
    run_id = uuid.uuid4().hex
    t0 = time.perf_counter()
    out.produce(topics.inbox, encode_event(run_created(run_id)), run_id.encode())
    out.flush(10)
    deadline = t0 + 60
    while run_id not in watch.at:
        if time.perf_counter() > deadline:
            raise SystemExit(f"run {run_id} did not succeed within 60 s")
        time.sleep(0.001)
    return (watch.at[run_id] - t0) * 1000


def artifact_upload(settings: ServiceSettings, prefix: str, work: Path) -> tuple[float, float]:
    """Median MB/s of the runner's artifact upload and of a raw PUT of the same file."""
    blob = work / "blob"
    with blob.open("wb") as f:
        for _ in range(ARTIFACT_MB):
            f.write(os.urandom(1024 * 1024))
    store = MinioArtifactStore(settings)
    raw = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
    )
    ours, floor = [], []
    for i in range(3):
        t0 = time.perf_counter()
        raw.fput_object(settings.artifact_bucket, f"bench/{prefix}raw-{i}", str(blob))
        floor.append(ARTIFACT_MB / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        store.upload_paths(
            root=work, paths=["blob"], key=f"bench/{prefix}ours-{i}", max_bytes=2**40
        )
        ours.append(ARTIFACT_MB / (time.perf_counter() - t0))
    for name in [f"bench/{prefix}{kind}-{i}" for kind in ("raw", "ours") for i in range(3)]:
        raw.remove_object(settings.artifact_bucket, name)
    return statistics.median(ours), statistics.median(floor)


def main() -> None:
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    names = create_topics(admin, prefix)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            image = image_ref(NOOP[0].image, settings.registry)
            bare = bare_docker_run(image)
            sluice = sluice_noop_stages(settings, prefix, Path(tmp) / "state")
            ours, floor = artifact_upload(settings, prefix, Path(tmp))
    finally:
        delete_topics(admin, names)
    report(bare, sluice, ours, floor)


def report(bare: list[float], sluice: list[float], ours: float, floor: float) -> None:
    b50, s50 = statistics.median(bare), statistics.median(sluice)
    print(f"no-op stage, {STAGES} runs each (ms):")
    print(f"  bare `docker run --rm`            p50 {b50:7.1f}  p90 {pct(bare, 0.9):7.1f}")
    print(f"  Sluice RunCreated→StageSucceeded  p50 {s50:7.1f}  p90 {pct(sluice, 0.9):7.1f}")
    print(f"  overhead above bare docker run    p50 {s50 - b50:+7.1f}  (goal ≤ +50 ms)")
    print(f"artifact upload of {ARTIFACT_MB} MiB:")
    print(f"  raw MinIO PUT (fput_object)       {floor:7.1f} MB/s")
    ratio = f"{ours / floor:.0%} of raw (goal ≥ 90 %)"
    print(f"  runner (streamed tar + SHA-256)   {ours:7.1f} MB/s  = {ratio}")


if __name__ == "__main__":
    main()
