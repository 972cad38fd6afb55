"""Dispatch latency and throughput of the decider on the real Kafka, beside raw floors.

Prints, measured in one run on one broker:
  * raw floor 1: Kafka produce→consume round trip (acks=all);
  * raw floor 2: a bare Python pipe consume→decode→encode→produce, end to end;
  * the floor of the trigger path's own shape: a bare faust hop (an agent configured as the
    trigger processor, forwarding each record) into a bare transactional hop (each record
    taken, produced and its offset committed in one transaction, as the decider does), read
    by a read_committed consumer; each hop alone, and the two chained;
  * Sluice: RunCreated on the inbox → first Job on a job topic, p50/p99, idle and under a
    steady background load of ~200 stage transitions/s;
  * Sluice: sustained stage transitions/s (events appended to sluice.runs) on a burst;
  * Sluice: RunRequested → Job through the trigger processor and the decider, measured in
    rounds alternating with the chained floor (this VM's speed drifts within minutes).
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from orchestrator.domain import parse_pipeline
from orchestrator.submit import register_pipeline, request_run
from orchestrator.wire import decode_record, encode_event
from projections.decider import Decider
from projections.triggers import (
    await_topics,
    changelog_topic,
    configured_app,
    configured_worker,
    use_uvloop,
)
from schemas import codec
from schemas.eventlog import TopicNames, consumer, end_offsets, producer
from schemas.settings import ServiceSettings
from schemas.topics import TRIGGERS
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
    stop = threading.Event()
    if topic_out:
        threading.Thread(
            target=pipe, args=(settings, topic_in, topic_out, stop), daemon=True
        ).start()
        time.sleep(3)
    try:
        return one_at_a_time(settings, topic_in, topic_out or topic_in, n)
    finally:
        stop.set()


def one_at_a_time(settings: ServiceSettings, topic_in: str, topic_out: str, n: int) -> list[float]:
    """Latency of n records sent to ``topic_in`` one at a time, each until seen on ``topic_out``
    by a read_committed consumer."""
    p = producer(settings)
    c = tail(settings, [topic_out])
    out = []
    for i in range(n):
        value = codec.encode("RunStarted", {"run_id": f"r{i}", "occurred_at_ms": i})
        t0 = ms()
        p.produce(topic_in, key=f"k{i}".encode(), value=value)
        p.flush()
        while (msg := c.poll(1.0)) is None or msg.error() is not None:
            if ms() - t0 > 60_000:
                raise TimeoutError(f"nothing reached {topic_out} from {topic_in} in 60 s")
        out.append(ms() - t0)
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


def transactional_pipe(
    settings: ServiceSettings, src: str, dst: str, stop: threading.Event, ready: threading.Event
) -> None:
    """The decider's transaction, bare: each record produced to ``dst`` with its offset, then
    committed (offsets sent while the record is in flight; the commit flushes)."""
    c = consumer(settings, group=f"txpipe{uuid.uuid4().hex}", **{"auto.offset.reset": "latest"})
    p = producer(settings, transactional_id=f"txpipe{uuid.uuid4().hex}")
    p.init_transactions(30)
    c.subscribe([src], on_assign=lambda *_: ready.set())
    while not stop.is_set():
        msg = c.poll(0.05)
        if msg is None or msg.error() is not None:
            continue
        p.begin_transaction()
        p.produce(dst, key=msg.key(), value=msg.value())
        taken = TopicPartition(msg.topic() or src, msg.partition() or 0, (msg.offset() or 0) + 1)
        p.send_offsets_to_transaction([taken], c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
    c.close()


def run_bare_faust_hop(src: str, dst: str, datadir: str) -> None:
    """A faust worker whose one agent forwards each record of ``src`` to ``dst`` (configured
    as the trigger processor, without its table, its pipeline catalogue or its decisions)."""
    use_uvloop()
    app = configured_app(ServiceSettings.from_env(), f"bare-hop-{src}", Path(datadir))
    source = app.topic(
        src, key_serializer="raw", value_serializer="raw", partitions=TRIGGERS.partitions
    )
    sink = app.topic(
        dst, key_serializer="raw", value_serializer="raw", partitions=TRIGGERS.partitions
    )

    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    app.agent(source, name="forward")(forward)
    configured_worker(app, "warning").execute_from_commandline()


def hop_topics(admin: AdminClient, prefix: str) -> tuple[str, str, str]:
    """Three new topics as wide as sluice.triggers, for a faust hop and a transactional hop:
    (``prefix``a, ``prefix``b, ``prefix``c); the caller deletes them."""
    a, b, c = (f"{prefix}{x}" for x in "abc")
    created = [NewTopic(t, TRIGGERS.partitions, 1) for t in (a, b, c)]
    for future in admin.create_topics(created, request_timeout=60).values():
        future.result()
    await_topics(admin, {t: TRIGGERS.partitions for t in (a, b, c)})  # faust trusts its first look
    return a, b, c


@contextmanager
def stack_floor(
    settings: ServiceSettings, admin: AdminClient, prefix: str, tmp: Path
) -> Iterator[tuple[str, str, str]]:
    """A bare faust hop (a → b) and a bare transactional hop (b → c) running on three topics
    of their own, as wide as sluice.triggers: (a, b, c)."""
    a, b, c = hop_topics(admin, f"{prefix}floor.")
    stop, ready = threading.Event(), threading.Event()
    hop = subprocess.Popen(
        [sys.executable, __file__, "--bare-faust-hop", a, b, str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    threading.Thread(
        target=transactional_pipe, args=(settings, b, c, stop, ready), daemon=True
    ).start()
    try:
        ready.wait(60)
        one_at_a_time(settings, a, c, 20)  # until faust has joined its group and warmed up
        yield a, b, c
    finally:
        stop.set()
        hop.terminate()
        hop.wait(30)
        delete_topics(admin, [a, b, c])


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


@contextmanager
def triggering(
    settings: ServiceSettings, prefix: str, tmp: Path
) -> Iterator[Callable[[int], list[float]]]:
    """RunRequested on sluice.triggers → Job, through the trigger processor (faust) and the
    decider: a function timing n triggers one at a time."""
    names = TopicNames(prefix)
    with trigger_processor(settings, prefix, tmp) as (sha, _):
        c = tail(settings, list(names.jobs))
        p = producer(settings)
        sent = 0

        def timed(n: int) -> list[float]:
            nonlocal sent
            out = []
            for _ in range(n):
                t0 = ms()
                request = request_run(
                    p,
                    pipeline_id="bench",
                    branch=f"b{sent}",
                    commit_sha=sha,
                    requested_by="bench",
                    prefix=prefix,
                )
                sent += 1
                wait_job(c, request.run_id)
                out.append(ms() - t0)
            return out

        try:
            timed(1)  # warms the git mirror and faust up
            yield timed
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


FAUST_HOP = "floor: bare faust hop (the trigger processor's config)"
TXN_HOP = "floor: bare transactional hop (the decider's shape)"
CHAINED = "floor: the two chained, the trigger path's own shape"


def alternating(
    settings: ServiceSettings, admin: AdminClient, prefix: str, *, rounds: int
) -> tuple[dict[str, list[float]], list[float]]:
    """The stack's floors and Sluice's trigger → dispatch, in alternating rounds of 50."""
    floors: dict[str, list[float]] = {FAUST_HOP: [], TXN_HOP: [], CHAINED: []}
    triggered: list[float] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (tmp / "faust").mkdir()
        a, b, c = stack.enter_context(stack_floor(settings, admin, prefix, tmp / "faust"))
        timed = stack.enter_context(triggering(settings, prefix, tmp))
        for _ in range(rounds):
            floors[FAUST_HOP] += one_at_a_time(settings, a, b, 25)
            floors[TXN_HOP] += one_at_a_time(settings, b, c, 25)
            floors[CHAINED] += one_at_a_time(settings, a, c, 50)
            triggered += timed(50)
    return floors, triggered


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
        floors, triggered = alternating(settings, admin, prefix, rounds=4)
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
    for label, xs in floors.items():
        print(f"{label:<52} p50 {statistics.median(xs):6.1f} ms   p99 {pct(xs, 0.99):6.1f} ms")
    chained = statistics.median(floors[CHAINED])
    p50, p99 = statistics.median(triggered), pct(triggered, 0.99)
    print(
        f"trigger→dispatch (faust)  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        f"   ({p50 / floor:.1f}x raw, {p50 / chained:.2f}x the chained hops)"
    )
    print(f"sustained stage transitions/s (burst of 5,000 runs): {rate:,.0f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare-faust-hop"]:
        run_bare_faust_hop(*sys.argv[2:5])
    else:
        main()
