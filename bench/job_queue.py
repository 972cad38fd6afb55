"""Queue time per priority on a fixed pool of runner processes — SIMULATED EXECUTOR.

Every stage here runs on the simulated executor (``--simulated-executor-sleeps-instead-of-
running``): it sleeps for its script's ``sleep N`` and reports success, so the figures are
the control plane's (job topics, the runners' feed into the PostgreSQL job queue, claims
acknowledged on ``sluice.inbox`` and accepted — echoed to ``sluice.runs`` as the decider
does, the runs being hand-made), never a container's. The runners use a schema of their
own. Prints, measured in one run on one broker:

  * raw floor: one Kafka produce→consume round trip (acks=all);
  * queue time (job produced → ``StageClaimed``) p50/p99 per priority at 70 % and 100 % of
    the pool's capacity (Poisson arrivals, stages of ``--stage-seconds``, mixed priorities);
  * a critical job sent behind a backlog of low-priority jobs on a full pool: its queue time.

Run: .venv/bin/python bench/job_queue.py [--runners 8] [--slots 25] [--seconds 40] [--backlog 3000]
        [--stage-seconds 5]

The issue's scale is ``--runners 50 --slots 20 --backlog 10000``; with ``--stage-seconds 20``
its arrival rate (35 and 50 jobs/s) stays one a 2-core machine can produce and claim.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from orchestrator.domain.events import StageClaimed
from orchestrator.domain.jobs import Job, job_id
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority
from orchestrator.wire import decode_record
from projections.migrate import migrate
from runners.messages import encode
from runners.pool.processes import RunnerProcesses
from schemas import codec
from schemas.eventlog import PATIENT_FETCH, TopicNames, consumer, end_offsets, producer
from schemas.pg import connect
from schemas.settings import ServiceSettings
from tests.support.claim_echo import ClaimEcho
from tests.support.runner_env import runner_env
from tests.support.stack import create_topics, delete_topics

MIX = ((Priority.CRITICAL, 0.1), (Priority.HIGH, 0.2), (Priority.NORMAL, 0.5), (Priority.LOW, 0.2))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def raw_round_trip(settings: ServiceSettings, topic: str, n: int) -> list[float]:
    """Produce one message, wait until it is consumed; n times."""
    p = producer(settings)
    c = consumer(settings, group=f"b{uuid.uuid4().hex}")
    end = end_offsets(c, topic, [0])[0]
    c.assign([TopicPartition(topic, 0, end)])
    out = []
    for i in range(n):
        value = codec.encode("RunStarted", {"run_id": f"r{i}", "occurred_at_ms": i})
        t0 = time.perf_counter()
        p.produce(topic, key=b"k", value=value, partition=0)
        p.flush()
        while (msg := c.poll(1.0)) is None or msg.error() is not None:
            pass
        out.append((time.perf_counter() - t0) * 1000)
    c.close()
    return out


class Follower:
    """Reads every partition of a topic on a thread of its own, from its end (or its start),
    handing each record to ``on_record``."""

    def __init__(
        self,
        settings: ServiceSettings,
        topic: str,
        on_record: Callable[[Message], None],
        *,
        from_start: bool = False,
    ) -> None:
        self._on_record = on_record
        # An observer, not part of what is measured: it must not add the broker's load of
        # 100 empty fetches a second (a record that arrives is still returned at once).
        self._c = consumer(settings, group=f"b{uuid.uuid4().hex}", **PATIENT_FETCH)
        meta = self._c.list_topics(topic, timeout=10).topics[topic]
        if from_start:
            starts = dict.fromkeys(meta.partitions, OFFSET_BEGINNING)
        else:
            starts = end_offsets(self._c, topic, list(meta.partitions))
        self._c.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for msg in self._c.consume(1000, timeout=0.1):
                if msg.error() is None:
                    self._on_record(msg)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._c.close()


class Claims:
    """Follows sluice.inbox and keeps each StageClaimed by job id."""

    def __init__(self, settings: ServiceSettings, topic: str) -> None:
        self.at: dict[str, int] = {}
        self._follower = Follower(settings, topic, self._record)

    def _record(self, msg: Message) -> None:
        event = decode_record(msg.value() or b"")
        if isinstance(event, StageClaimed):
            self.at[job_id(event.run_id, event.stage, event.attempt)] = event.occurred_at_ms

    def close(self) -> None:
        self._follower.close()


class Sender:
    """Produces simulated jobs and remembers when each was sent."""

    def __init__(self, settings: ServiceSettings, names: TopicNames) -> None:
        tuning: dict[str, Any] = {"linger.ms": 2}
        self._p = producer(settings, **tuning)
        self._names = names
        self.sent: dict[str, tuple[Priority, int]] = {}

    def send(self, priority: Priority, seconds: int) -> str:
        run_id = f"q-{uuid.uuid4().hex[:10]}"
        stage = StageSpec(name="s", script=(f"sleep {seconds}",))
        at = now_ms()
        job = Job(
            job_id=job_id(run_id, "s", 1),
            run_id=run_id,
            pipeline_id="bench",
            stage=stage,
            attempt=1,
            priority=priority,
            repo_url="simulated",
            commit_sha="0" * 40,
            branch="main",
            lease_ms=600_000,
            enqueued_at_ms=at,
        )
        self._p.produce(self._names.job(priority), encode(job), run_id.encode())
        self._p.poll(0)
        self.sent[job.job_id] = (priority, at)
        return job.job_id

    def flush(self) -> None:
        self._p.flush(30)


def pick(rng: random.Random, mix: tuple[tuple[Priority, float], ...] = MIX) -> Priority:
    """A priority drawn by the shares of ``mix``."""
    x, total = rng.random(), 0.0
    for priority, share in mix:
        total += share
        if x < total:
            return priority
    return Priority.LOW


def load_phase(
    sender: Sender, claims: Claims, *, rate: float, seconds: float, stage_s: int
) -> dict[str, list[float]]:
    """Poisson arrivals at ``rate``/s for ``seconds``; queue times (s) by priority."""
    rng = random.Random(13)
    ids = []
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while next_at < end:
        time.sleep(max(0.0, next_at - time.monotonic()))
        ids.append(sender.send(pick(rng), stage_s))
        next_at += rng.expovariate(rate)
    sender.flush()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not all(i in claims.at for i in ids):
        time.sleep(0.5)
    waits: dict[str, list[float]] = defaultdict(list)
    for i in ids:
        priority, sent = sender.sent[i]
        if i in claims.at:
            waits[priority.value].append((claims.at[i] - sent) / 1000)
    waits["unclaimed"] = [0.0] * sum(1 for i in ids if i not in claims.at)
    return waits


def backlog_phase(
    sender: Sender, claims: Claims, *, capacity: int, backlog: int
) -> tuple[float, float, int]:
    """Fill every slot with 20 s jobs, queue ``backlog`` low jobs, then send one critical job:
    its queue time, how long after the first slot freed it was claimed, and how many low jobs
    were claimed between its sending and its claim."""
    fill = [sender.send(Priority.NORMAL, 20) for _ in range(capacity)]
    sender.flush()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sum(i in claims.at for i in fill) < capacity:
        time.sleep(0.2)
    lows = [sender.send(Priority.LOW, 1) for _ in range(backlog)]
    sender.flush()
    time.sleep(2)
    critical = sender.send(Priority.CRITICAL, 0)
    sender.flush()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and critical not in claims.at:
        time.sleep(0.05)
    claimed, sent = claims.at.get(critical, 0), sender.sent[critical][1]
    slot_free = min(claims.at[i] for i in fill if i in claims.at) + 20_000  # a fill job ends
    ahead = sum(1 for i in lows if sent <= claims.at.get(i, claimed + 1) < claimed)
    return (claimed - sent) / 1000, (claimed - max(slot_free, sent)) / 1000, ahead


def start_runners(
    names: TopicNames, state: Path, *, schema: str, runners: int, slots: int
) -> RunnerProcesses:
    root = str(Path(__file__).resolve().parents[1])
    env = runner_env(state, SLUICE_PG_SCHEMA=schema, PYTHONPATH=root)
    procs = RunnerProcesses(work_dir=state / "pool", prefix=names.prefix, simulated=True, env=env)
    for _ in range(runners):
        procs.start(slots=slots, now_ms=now_ms())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        procs.refresh()
        if all(r.status is not None for r in procs.live.values()):
            return procs
        time.sleep(0.5)
    ready = sum(r.status is not None for r in procs.live.values())
    procs.stop_all(30)
    raise SystemExit(f"only {ready} of {runners} runner processes started within 5 minutes")


def report(label: str, waits: dict[str, list[float]]) -> None:
    for priority in ("critical", "high", "normal", "low"):
        xs = waits.get(priority, [])
        print(
            f"  {label:>5}  {priority:<8}  n={len(xs):5d}  p50 {pct(xs, 0.5):7.3f} s"
            f"   p99 {pct(xs, 0.99):7.3f} s"
        )
    if waits.get("unclaimed"):
        print(f"  {label:>5}  {len(waits['unclaimed'])} job(s) not claimed within 3 minutes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runners", type=int, default=8)
    parser.add_argument("--slots", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--stage-seconds", type=int, default=5)
    args = parser.parse_args()
    with scratch_deployment("bq") as (settings, names, schema):
        echo = ClaimEcho(settings, names)
        echo.start()
        try:
            run(settings, names, args, schema)
        finally:
            echo.stop()


@contextmanager
def scratch_deployment(tag: str) -> Iterator[tuple[ServiceSettings, TopicNames, str]]:
    """Topics and a migrated PostgreSQL schema of their own (``tag`` + a random suffix),
    deleted afterwards: (settings, topic names, schema)."""
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = TopicNames(f"{tag}{uuid.uuid4().hex[:6]}.")
    made = create_topics(admin, names.prefix)
    schema = names.prefix.rstrip(".")
    with connect(settings.pg_dsn, schema="public", name=f"bench-{tag}") as conn:
        migrate(conn, schema=schema)
    try:
        yield settings, names, schema
    finally:
        delete_topics(admin, made)
        with connect(settings.pg_dsn, schema="public", name=f"bench-{tag}") as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(
    settings: ServiceSettings, names: TopicNames, args: argparse.Namespace, schema: str
) -> None:
    """Start the runners, measure, stop them."""
    capacity = args.runners * args.slots
    stage_s = args.stage_seconds
    print("SIMULATED EXECUTOR: stages only sleep (runners/simulated.py); no container runs.")
    mix = ", ".join(f"{p.value} {share:.0%}" for p, share in MIX)
    print(
        f"pool: {args.runners} runner processes x {args.slots} slots = {capacity} concurrent"
        f" stages, {stage_s} s stages, priorities {mix}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        procs = start_runners(
            names, Path(tmp), schema=schema, runners=args.runners, slots=args.slots
        )
        claims = Claims(settings, names.inbox)
        sender = Sender(settings, names)
        try:
            raw = raw_round_trip(settings, names.triggers, 200)
            floor = statistics.median(raw)
            p99 = pct(raw, 0.99)
            print(
                f"raw Kafka produce->consume round trip   p50 {floor:6.1f} ms   p99 {p99:6.1f} ms"
            )
            for load in (0.7, 1.0):
                rate = load * capacity / stage_s
                waits = load_phase(sender, claims, rate=rate, seconds=args.seconds, stage_s=stage_s)
                what = f"{rate:.0f} jobs/s for {args.seconds:g} s"
                print(f"queue time at {load:.0%} of capacity ({what}):")
                report(f"{load:.0%}", waits)
                p50 = statistics.median(
                    [w for p in ("critical", "high", "normal", "low") for w in waits.get(p, [])]
                )
                print(f"  all priorities p50 = {p50 * 1000 / floor:.0f}x the raw round trip")
                time.sleep(stage_s + 5)  # let the pool empty
            waited, after_free, ahead = backlog_phase(
                sender, claims, capacity=capacity, backlog=args.backlog
            )
            print(
                f"a critical job behind {args.backlog} queued low jobs on a full pool: queue time"
                f" {waited:.3f} s, claimed {after_free:.3f} s after the pool's first slot freed;"
                f" low jobs claimed meanwhile (by runners that did not hold it): {ahead}"
            )
        finally:
            claims.close()
            ended = procs.stop_all(30)
            print(f"({len(ended)} runner processes stopped)")


if __name__ == "__main__":
    main()
