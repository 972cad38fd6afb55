"""Where a trigger's time goes: RunRequested → RunCreated (inbox) → sluice.runs → Job.

Drives the real trigger processor (faust, a subprocess) and a decider (a thread) on the
real Kafka, and splits each trigger's latency by the timestamps Kafka keeps on every record
(the producer's CreateTime, ms resolution):

  * trigger processor: the RunRequested's timestamp → the RunCreated on ``sluice.inbox``;
  * decider:           the RunCreated on the inbox → the Job's timestamp;
  * commit + fetch:    the Job's timestamp → the job seen by a consumer here
    (the decider's transaction commit and a read_committed fetch).

Idle (one trigger at a time) and loaded (``--clients`` threads triggering back to back).
With ``--py-spy SECONDS`` it also samples the trigger processor with py-spy and prints the
functions where its time went (own time and total, by share of samples).
Floor, same run: a raw Kafka produce→consume round trip.
Run: .venv/bin/python bench/trigger_path.py [--n 200] [--clients 16] [--py-spy 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from bench.dispatch import pct, round_trip, tail, trigger_processor
from orchestrator.submit import request_run
from orchestrator.wire import decode_record
from projections.decider import Decider
from projections.triggers import changelog_topic
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings
from tests.support.stack import create_topics, delete_topics


@dataclass
class Trace:
    """Per run: Kafka timestamps (ms) of its records, and when the job was seen here."""

    requested: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    job: dict[str, int] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def watch(c: Consumer, names: TopicNames, trace: Trace, stop: threading.Event) -> None:
    jobs = set(names.jobs)
    while not stop.is_set():
        msg = c.poll(0.05)
        if msg is None or msg.error() is not None:
            continue
        now = time.time() * 1000
        record = decode_record(msg.value() or b"")
        stamp = msg.timestamp()[1]
        with trace.lock:
            if msg.topic() == names.triggers:
                trace.requested[record.run_id] = stamp
            elif msg.topic() == names.inbox and type(record).__name__ == "RunCreated":
                trace.answered[record.run_id] = stamp
            elif msg.topic() in jobs:
                trace.job.setdefault(record.run_id, stamp)
                trace.seen.setdefault(record.run_id, now)


def trigger(settings: ServiceSettings, prefix: str, sha: str, trace: Trace, n: int) -> list[str]:
    p = producer(settings)
    # A new producer's first record waits 0.1-1 s here (its connection, producer id and
    # metadata); the API's producer lives as long as the API, so each client's is warmed on
    # the logs topic (nothing in this bench reads it) before its triggers are timed.
    p.list_topics(TopicNames(prefix).triggers, timeout=10)
    p.produce(TopicNames(prefix).logs, value=b"warm-up")
    p.flush(10)
    ids = []
    for _ in range(n):
        request = request_run(
            p,
            pipeline_id="bench",
            branch=f"b{uuid.uuid4().hex[:8]}",
            commit_sha=sha,
            requested_by="bench",
            prefix=prefix,
        )
        ids.append(request.run_id)
        deadline = time.monotonic() + 60
        while request.run_id not in trace.seen and time.monotonic() < deadline:
            time.sleep(0.0005)
    return ids


def loaded(
    settings: ServiceSettings, prefix: str, sha: str, trace: Trace, *, clients: int, n: int
) -> tuple[list[str], float]:
    out: list[list[str]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        out[i] = trigger(settings, prefix, sha, trace, n)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r for xs in out for r in xs]
    return ids, len(ids) / (time.monotonic() - t0)


def breakdown(label: str, trace: Trace, ids: list[str]) -> None:
    parts: dict[str, list[float]] = {"trigger processor": [], "decider": [], "commit+fetch": []}
    total = []
    for r in ids:
        if r not in trace.seen or r not in trace.answered:
            continue
        parts["trigger processor"].append(trace.answered[r] - trace.requested[r])
        parts["decider"].append(trace.job[r] - trace.answered[r])
        parts["commit+fetch"].append(trace.seen[r] - trace.job[r])
        total.append(trace.seen[r] - trace.requested[r])
    print(f"{label}: {len(total)} of {len(ids)} triggers reached a job")
    for name, xs in (*parts.items(), ("total (trigger → job seen)", total)):
        if xs:
            print(
                f"  {name:<28} p50 {statistics.median(xs):7.1f} ms"
                f"   p99 {pct(xs, 0.99):7.1f} ms   max {max(xs):7.1f} ms"
            )


def profile(pid: int, seconds: int, out: Path) -> None:
    spy = Path(sys.executable).with_name("py-spy")
    subprocess.run(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise(raw: Path, top: int = 18) -> None:
    """Collapsed stacks → share of samples per function: own (leaf) and total (anywhere)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            for f in stack.split(";")
            if f
        ]
        if not frames:
            continue
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    if not samples:
        print("py-spy: no samples (is ptrace allowed?)")
        return
    print(f"py-spy of the trigger processor: {samples} samples (idle threads included)")
    print("  own time:")
    for f, n in own.most_common(top):
        print(f"    {100 * n / samples:5.1f}%  {f}")
    print("  total time (function or its callees):")
    for f, n in total.most_common(top):
        print(f"    {100 * n / samples:5.1f}%  {f}")


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--n", type=int, default=200)
    args.add_argument("--clients", type=int, default=16)
    args.add_argument("--per-client", type=int, default=40)
    args.add_argument("--py-spy", type=int, default=0, help="seconds of sampling under load")
    opts = args.parse_args()
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    stop = threading.Event()
    trace = Trace()
    try:
        idle, busy, rate, raw = measure(settings, opts, names, trace=trace, stop=stop)
    finally:
        # after the trigger processor stopped: a live faust would create the topics again
        stop.set()
        time.sleep(0.5)
        delete_topics(admin, [*topics, changelog_topic(prefix)])  # faust made the changelog
    print(
        f"raw Kafka round trip (acks=all)  p50 {statistics.median(raw):6.1f} ms"
        f"   p99 {pct(raw, 0.99):6.1f} ms"
    )
    breakdown("idle, one trigger at a time", trace, idle)
    breakdown(f"loaded, {opts.clients} clients back to back", trace, busy)
    print(f"  throughput under load: {rate:.0f} triggers/s to a job")


def measure(
    settings: ServiceSettings,
    opts: argparse.Namespace,
    names: TopicNames,
    *,
    trace: Trace,
    stop: threading.Event,
) -> tuple[list[str], list[str], float, list[float]]:
    """Idle and loaded triggers through the trigger processor (stopped on return)."""
    prefix = names.prefix
    decider = Decider(settings=settings, prefix=prefix, worker_id="bench")
    threading.Thread(target=decider.run, args=(stop,), daemon=True).start()
    with (
        tempfile.TemporaryDirectory() as tmp,
        trigger_processor(settings, prefix, Path(tmp)) as (sha, proc),
    ):
        watcher = tail(settings, [names.triggers, names.inbox, *names.jobs])
        threading.Thread(target=watch, args=(watcher, names, trace, stop), daemon=True).start()
        while not decider.ready.is_set():
            time.sleep(0.05)
        raw = round_trip(settings, names.logs, None, 200)
        trigger(settings, prefix, sha, trace, 3)  # warms the git mirror and faust up
        idle = trigger(settings, prefix, sha, trace, opts.n)
        spy = None
        if opts.py_spy:
            spy = threading.Thread(
                target=profile, args=(proc.pid, opts.py_spy, Path(tmp) / "spy.txt")
            )
            spy.start()
        busy, rate = loaded(settings, prefix, sha, trace, clients=opts.clients, n=opts.per_client)
        if spy is not None:
            spy.join()
            summarise(Path(tmp) / "spy.txt")
    return idle, busy, rate, raw


if __name__ == "__main__":
    main()
