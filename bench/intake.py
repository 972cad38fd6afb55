"""The job queue's intake path with many runners of one priority, beside a raw floor.

Runners take jobs from the PostgreSQL job queue (``runners/job_queue.py``); this measures
that path alone, with K claimers standing in for K runner processes (threads, one
connection each, exactly as a runner holds one: no Docker, no Kafka), in the same run as
the floor, a raw ``SELECT 1`` round trip:

* drain: N jobs of one priority queued, every claimer takes one job at a time (one free
  slot) and hands it over, until the queue is empty: claims/s, take latency p50/p99, how
  many claimers got work, and that no job was taken twice;
* wake-up: claimers idle (each looks when notified, as a runner does), jobs added one at a
  time: add → taken p50/p99 (the queue time the intake adds for an idle runner).

Claimers are bounded by PostgreSQL's ``max_connections`` (100 here: a runner holds one
connection), which is the intake's ceiling on runner count; raise it for more runners.

    .venv/bin/python bench/intake.py [--claimers 80] [--jobs 4000]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import psycopg
from psycopg import sql

from projections.migrate import migrate
from runners.job_queue import JobQueue, QueuedJob
from schemas.settings import ServiceSettings


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _floor(dsn: str) -> list[float]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        out = []
        for _ in range(300):
            t = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            out.append(time.perf_counter() - t)
        return out


def _jobs(n: int, tag: str) -> list[QueuedJob]:
    now = time.time_ns() // 1_000_000
    return [QueuedJob(f"{tag}/{i}", f"run-{i}", "normal", now + i, b"job") for i in range(n)]


def _drain(queues: list[JobQueue], feeder: JobQueue, n: int) -> None:
    for start in range(0, n, 500):
        feeder.add(_jobs(n, "drain")[start : start + 500])
    taken: list[list[str]] = [[] for _ in queues]
    latencies: list[float] = []
    lock = threading.Lock()

    def claimer(i: int) -> None:
        while True:
            t = time.perf_counter()
            got = queues[i].take(1)
            with lock:
                latencies.append(time.perf_counter() - t)
            if not got:
                return
            queues[i].hand_over(got[0].job_id)
            taken[i].append(got[0].job_id)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(queues))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    every = [j for part in taken for j in part]
    counts = [len(part) for part in taken]
    print(f"drain: {n} jobs by {len(queues)} claimers in {elapsed:.2f} s = {n / elapsed:,.0f}"
          f" claims/s; take p50 {_ms(latencies, 0.5):.2f} ms, p99 {_ms(latencies, 0.99):.2f} ms;"
          f" claimers with work {sum(c > 0 for c in counts)}/{len(queues)} (min {min(counts)},"
          f" max {max(counts)} each); taken twice: {len(every) - len(set(every))}")  # fmt: skip


def _wake_up(queues: list[JobQueue], feeder: JobQueue, n: int) -> None:
    added: dict[str, float] = {}
    waits: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def claimer(q: JobQueue) -> None:
        while not stop.is_set():
            if q.notified():
                for job in q.take(1):
                    q.hand_over(job.job_id)
                    with lock:
                        waits.append(time.perf_counter() - added[job.job_id])
            time.sleep(0.005)  # a runner's loop turn

    threads = [threading.Thread(target=claimer, args=(q,)) for q in queues]
    for th in threads:
        th.start()
    for job in _jobs(n, "wake"):
        added[job.job_id] = time.perf_counter()
        feeder.add([job])
        feeder.announce()  # as a runner that fed a job it has no free slot for
        time.sleep(0.02)
    time.sleep(1)
    stop.set()
    for th in threads:
        th.join()
    print(f"wake-up: {len(waits)}/{n} jobs added one at a time to {len(queues)} idle claimers:"
          f" add → taken p50 {_ms(waits, 0.5):.1f} ms, p99 {_ms(waits, 0.99):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claimers", type=int, default=80)
    parser.add_argument("--jobs", type=int, default=4000)
    args = parser.parse_args()
    dsn = ServiceSettings.from_env().pg_dsn
    schema = f"bench_intake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, schema=schema)
        limit = conn.execute("SHOW max_connections").fetchone()
    print("PostgreSQL job queue only; claimers are threads standing in for runner processes"
          f" (one connection each; max_connections = {limit[0] if limit else '?'})")  # fmt: skip
    try:
        floor = _floor(dsn)
        p50, p99 = _ms(floor, 0.5), _ms(floor, 0.99)
        print(f"floor: SELECT 1 round trip p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        feeder = JobQueue(dsn, schema=schema, runner_id="feeder")
        queues = [JobQueue(dsn, schema=schema, runner_id=f"r{i}") for i in range(args.claimers)]
        _drain(queues, feeder, args.jobs)
        _wake_up(queues, feeder, 200)
        for q in [*queues, feeder]:
            q.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
