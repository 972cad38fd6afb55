"""Dispatch latency and throughput of the decider on the real Kafka, beside raw floors.

Prints, measured in one run on one broker:
  * raw floor 1: Kafka produce→consume round trip (acks=all);
  * raw floor 2: a bare Python pipe consume→decode→encode→produce, end to end;
  * Sluice: RunCreated on the inbox → first Job on a job topic, p50/p99, idle and under a
    steady background load of ~200 stage transitions/s;
  * Sluice: sustained stage transitions/s (events appended to sluice.runs) on a burst.
Run: .venv/bin/python bench/dispatch.py
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from orchestrator.domain import parse_pipeline
from orchestrator.submit import register_pipeline, request_run
from orchestrator.wire import decode_record, encode_event
from projections.decider import Decider
from projections.triggers import changelog_topic
from schemas import codec
from schemas.eventlog import TopicNames, consumer, end_offsets, producer
from schemas.settings import ServiceSettings
from tests.support.runs import run_created
from tests.support.stack import create_topics, delete_topics

ONE_STAGE = parse_pipeline("name: one\nstages:\n  build: {script: ['true']}\n").stages


def ms() -> float:
    return time.perf_counter() * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def created(run_id: str) -> bytes:
    return encode_event(run_created(ONE_STAGE, run_id=run_id, pipeline_id="bench"))


def tail(settings: ServiceSettings, topics: list[str]) -> Consumer:
    """A consumer assigned to every partition of ``topics`` at its current end."""
    c = consumer(settings, group=f"b{uuid.uuid4().hex}")
    assignment = []
    for topic in topics:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        ends = end_offsets(c, topic, list(meta.partitions))
        assignment += [TopicPartition(topic, p, end) for p, end in ends.items()]
    c.assign(assignment)
    return c


def round_trip(
    settings: ServiceSettings, topic_in: str, topic_out: str | None, n: int
) -> list[float]:
    """Latency of n messages one at a time; with topic_out, through a Python pipe thread."""
    p = producer(settings)
    c = tail(settings, [topic_out or topic_in])
    stop = threading.Event()
    if topic_out:
        threading.Thread(
            target=pipe, args=(settings, topic_in, topic_out, stop), daemon=True
        ).start()
        time.sleep(3)
    out = []
    for i in range(n):
        value = codec.encode("RunStarted", {"run_id": f"r{i}", "occurred_at_ms": i})
        t0 = ms()
        p.produce(topic_in, key=b"k", value=value)
        p.flush()
        while (msg := c.poll(1.0)) is None or msg.error() is not None:
            pass
        out.append(ms() - t0)
    stop.set()
    c.close()
    return out


def pipe(settings: ServiceSettings, src: str, dst: str, stop: threading.Event) -> None:
    c = consumer(settings, group=f"pipe{uuid.uuid4().hex}", **{"auto.offset.reset": "latest"})
    p = producer(settings)
    c.subscribe([src])
    while not stop.is_set():
        msg = c.poll(0.05)
        if msg is None or msg.error() is not None:
            continue
        d = codec.decode(msg.value() or b"")
        p.produce(dst, key=msg.key(), value=codec.encode(d.name, d.value))
        p.poll(0)
    c.close()


def dispatch_latency(settings: ServiceSettings, names: TopicNames, n: int) -> list[float]:
    p = producer(settings)
    c = tail(settings, list(names.jobs))
    out = []
    for _ in range(n):
        run_id = uuid.uuid4().hex
        t0 = ms()
        p.produce(names.inbox, key=run_id.encode(), value=created(run_id))
        p.flush()
        while True:
            msg = c.poll(1.0)
            if (
                msg is not None
                and msg.error() is None
                and decode_record(msg.value() or b"").run_id == run_id
            ):
                break
        out.append(ms() - t0)
    c.close()
    return out


def wait_job(c: Consumer, run_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.5)
        if (
            msg is not None
            and msg.error() is None
            and decode_record(msg.value() or b"").run_id == run_id
        ):
            return
    raise TimeoutError(f"no job for run {run_id} in {timeout} s")


ONE_STAGE_YAML = "name: bench\nstages:\n  build: {script: ['true']}\n"


def one_stage_repository(root: Path, pipeline: str = ONE_STAGE_YAML) -> tuple[str, str]:
    """A git repository holding a pipeline (one stage by default): (file URL, commit sha)."""
    (root / "pipeline.yaml").write_text(pipeline)
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    sha = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return f"file://{root}", sha


@contextmanager
def trigger_processor(
    settings: ServiceSettings, prefix: str, tmp: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Pipeline ``bench`` (one stage, in a repository under ``tmp``) registered under
    ``prefix``, and the trigger processor (faust) running on it: (commit sha, its process)."""
    url, sha = one_stage_repository(tmp)
    register_pipeline(settings, pipeline_id="bench", name="bench", repo_url=url, prefix=prefix)
    env = {**os.environ, "SLUICE_TOPIC_PREFIX": prefix, "SLUICE_CACHE_DIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "projections.triggers"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield sha, proc
    finally:
        proc.terminate()
        proc.wait(30)


def trigger_latency(settings: ServiceSettings, prefix: str, n: int) -> list[float]:
    """RunRequested on sluice.triggers → Job, through the trigger processor (faust) and decider."""
    names = TopicNames(prefix)
    with (
        tempfile.TemporaryDirectory() as tmp,
        trigger_processor(settings, prefix, Path(tmp)) as (sha, _),
    ):
        c = tail(settings, list(names.jobs))
        p = producer(settings)
        try:
            out = []
            for i in range(n + 1):  # the first one warms the git mirror and faust up
                t0 = ms()
                request = request_run(
                    p,
                    pipeline_id="bench",
                    branch=f"b{i}",
                    commit_sha=sha,
                    requested_by="bench",
                    prefix=prefix,
                )
                wait_job(c, request.run_id)
                out.append(ms() - t0)
            return out[1:]
        finally:
            c.close()


def background(
    settings: ServiceSettings, names: TopicNames, per_s: int, stop: threading.Event
) -> None:
    """RunCreated of one-stage runs: 2 transitions each (accepted + StageQueued)."""
    p = producer(settings)
    while not stop.is_set():
        t0 = time.monotonic()
        for _ in range(per_s // 10):
            run_id = uuid.uuid4().hex
            p.produce(names.inbox, key=run_id.encode(), value=created(run_id))
        p.poll(0)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    p.flush()


def burst(settings: ServiceSettings, names: TopicNames, decider: Decider, n: int) -> float:
    p = producer(settings)
    before = decider.stats.events
    for _ in range(n):
        run_id = uuid.uuid4().hex
        p.produce(names.inbox, key=run_id.encode(), value=created(run_id))
        p.poll(0)
    p.flush()
    t0 = time.monotonic()
    while decider.stats.events - before < 2 * n:
        time.sleep(0.01)
    return (decider.stats.events - before) / (time.monotonic() - t0)


def main() -> None:
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    stop = threading.Event()
    decider = Decider(settings=settings, prefix=prefix, worker_id="bench")
    threading.Thread(target=decider.run, args=(stop,), daemon=True).start()
    try:
        while not decider.ready.is_set():
            time.sleep(0.05)
        print("measuring…", file=sys.stderr)
        raw = round_trip(settings, names.logs, None, 200)
        print("raw done", file=sys.stderr)
        piped = round_trip(settings, names.audit, names.dead_letters, 200)
        print("pipe done", file=sys.stderr)
        idle = dispatch_latency(settings, names, 200)
        print("idle done", file=sys.stderr)
        load_stop = threading.Event()
        threading.Thread(
            target=background, args=(settings, names, 100, load_stop), daemon=True
        ).start()
        time.sleep(1)
        loaded = dispatch_latency(settings, names, 200)
        load_stop.set()
        time.sleep(1)
        rate = burst(settings, names, decider, 5000)
        print("burst done", file=sys.stderr)
        triggered = trigger_latency(settings, prefix, 200)
    finally:
        stop.set()
        time.sleep(0.5)
        delete_topics(admin, [*topics, changelog_topic(prefix)])  # faust made the changelog
    floor = statistics.median(raw)
    print(
        f"raw Kafka round trip (acks=all)        p50 {floor:6.1f} ms   p99 {pct(raw, 0.99):6.1f} ms"
    )
    piped_p50, piped_p99 = statistics.median(piped), pct(piped, 0.99)
    print(f"bare Python pipe (decode+encode)  p50 {piped_p50:6.1f} ms   p99 {piped_p99:6.1f} ms")
    for label, xs in (("idle", idle), ("under ~200 transitions/s", loaded)):
        p50 = statistics.median(xs)
        p99 = pct(xs, 0.99)
        ratio = p50 / floor
        print(f"dispatch {label:<24} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({ratio:.1f}x raw)")
    p50, p99 = statistics.median(triggered), pct(triggered, 0.99)
    ratio = p50 / floor
    print(f"trigger→dispatch (faust)  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({ratio:.1f}x raw)")
    print(f"sustained stage transitions/s (burst of 5,000 runs): {rate:,.0f}")


if __name__ == "__main__":
    main()
