"""The seed's Monday, compressed, through the real control plane — SIMULATED EXECUTOR.

Runs of a 6-stage pipeline (prepare → build → unit, lint, integration → publish) arrive as
``RunCreated`` on ``sluice.inbox`` (Poisson, hour by hour) along a Monday's profile: quiet
nights, a morning peak of about 3x the day's average, an afternoon plateau. Everything between
is real and runs as on a host: the decider and the projection (``sluice processor``), the
timers, and ``sluice pool run`` starting and draining runner processes from 2 to
``--max-runners``. Only the stages are simulated: the pool's runners sleep instead of
running a container (``--simulated-executor-sleeps-instead-of-running``), so the figures are
the control plane's. The timers run in this process (as ``sluice processor timers`` would,
same class) so their position on ``sluice.runs`` can be read.

The day is compressed ``86400 / (--minutes x 60)`` times. ``--runs`` is the day's volume
(the seed's: 100,000). Stage times keep the seed's concurrency: at the peak about
``--peak-stages`` (1,000) stages run at once whatever the volume and the compression. The
stages keep the proportions of real ones (prepare 20 s, build 90 s, unit 60 s, lint 30 s,
integration 60 s, publish 28 s: at the seed's peak of 3.5 runs/s, 1,000 stages at once),
scaled so that the peak's arrival rate times a run's stage time is ``--peak-stages``.

Prints, beside the raw floor of one Kafka produce→consume round trip of the same run:

  * queue time (``StageQueued`` → ``StageClaimed``) p50/p99 per priority, all day and in
    the peak hours;
  * each processor's lag in seconds, sampled every second: how long ago the oldest message
    it has not yet taken was appended (0 when it is at the head). The decider's position is
    its committed offset on ``sluice.inbox``; the projection's, the offsets it stores with
    its rows (the worst of its read models); the timers', the offset they read next;
  * the pool: decisions up and down, most runners at once, stages interrupted by a scale-in;
  * runs created and finished, and the longest run.

Run: .venv/bin/python bench/compressed_day.py [--runs 100000] [--minutes 60] [--max-runners 55]
        [--slots 20] [--peak-stages 1000]
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from confluent_kafka import Message, TopicPartition

from bench.cpu import CpuMeter, print_cpu_per
from bench.job_queue import Follower, now_ms, pct, pick, raw_round_trip, scratch_deployment
from orchestrator.domain import parse_pipeline
from orchestrator.domain.events import (
    RunCreated,
    RunFailed,
    RunSucceeded,
    StageClaimed,
    StageQueued,
)
from orchestrator.domain.fleet import PoolScaleDecided, RunnerStopped
from orchestrator.domain.statuses import Priority
from orchestrator.wire import decode_record, encode_event
from projections.timers import TimerWorker
from runners.simulated import SIMULATION_FLAG
from schemas.eventlog import TopicNames, consumer, producer
from schemas.settings import ServiceSettings
from tests.support.runner_env import runner_env
from tests.support.runs import run_created

SEED_RUNS = 100_000
DAY_S = 86_400
# A Monday, hour by hour (relative arrivals); normalised so the day's mean is 1.
MONDAY = (
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 1.2, 2.4, 3.0, 2.6, 2.0,
    1.2, 1.6, 1.8, 1.7, 1.5, 1.1, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2,
)  # fmt: skip
STAGES_S = (
    ("prepare", 20),
    ("build", 90),
    ("unit", 60),
    ("lint", 30),
    ("integration", 60),
    ("publish", 28),
)
NEEDS = {"build": ["prepare"], "unit": ["build"], "lint": ["build"], "integration": ["build"],
         "publish": ["unit", "lint", "integration"]}  # fmt: skip
MIX = (
    (Priority.CRITICAL, 0.05),
    (Priority.HIGH, 0.15),
    (Priority.NORMAL, 0.6),
    (Priority.LOW, 0.2),
)
PEAK_HOURS = range(8, 11)


def pipeline_yaml(stretch: float) -> str:
    """The 6-stage pipeline, each stage sleeping its real time x ``stretch``."""
    lines = ["name: day", "stages:"]
    for name, seconds in STAGES_S:
        needs = f", needs: [{', '.join(NEEDS[name])}]" if name in NEEDS else ""
        lines.append(f"  {name}: {{script: ['sleep {seconds * stretch:.3f}']{needs}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Offsets:
    """Every message of a topic this bench has read: (offset, append time) per partition."""

    seen: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    at: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, partition: int, offset: int, timestamp_ms: int) -> None:
        self.seen[partition].append(offset)
        self.at[partition].append(timestamp_ms)

    def lag_s(self, positions: dict[int, int], now: int) -> float:
        """Age of the oldest message at or past ``positions`` (the next offset to take)."""
        oldest = now
        for partition, offsets in self.seen.items():
            i = bisect.bisect_left(offsets, positions.get(partition, 0))
            if i < len(offsets):
                oldest = min(oldest, self.at[partition][i])
        return max(0, now - oldest) / 1000


class Timed:
    """A topic read from its start: every offset's append time, each record handed on."""

    def __init__(
        self,
        settings: ServiceSettings,
        topic: str,
        on_record: Callable[[bytes], None] | None = None,
    ) -> None:
        self.offsets = Offsets()
        self._on_record = on_record
        self._follower = Follower(settings, topic, self._record, from_start=True)

    def _record(self, msg: Message) -> None:
        self.offsets.add(msg.partition() or 0, msg.offset() or 0, msg.timestamp()[1])
        if self._on_record is not None:
            self._on_record(msg.value() or b"")

    def close(self) -> None:
        self._follower.close()


@dataclass
class Day:
    """What ``sluice.runs`` and ``sluice.fleet`` said."""

    queued: dict[tuple[str, str, int], tuple[int, Priority]] = field(default_factory=dict)
    waits: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    created: dict[str, int] = field(default_factory=dict)
    ended: dict[str, tuple[str, int]] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)
    most_runners: int = 0
    interrupted: int = 0
    stopped: int = 0

    def on_run_event(self, value: bytes) -> None:
        event = decode_record(value)
        if isinstance(event, StageQueued):
            key = (event.run_id, event.stage, event.attempt)
            self.queued[key] = (event.occurred_at_ms, event.priority)
        elif isinstance(event, StageClaimed):
            queued = self.queued.pop((event.run_id, event.stage, event.attempt), None)
            if queued is not None:
                at, priority = queued
                self.waits[priority.value].append((at, (event.occurred_at_ms - at) / 1000))
        elif isinstance(event, RunCreated):
            self.created[event.run_id] = event.occurred_at_ms
        elif isinstance(event, RunSucceeded | RunFailed):
            self.ended[event.run_id] = (type(event).__name__, event.occurred_at_ms)

    def on_fleet_event(self, value: bytes) -> None:
        event = decode_record(value)
        if isinstance(event, PoolScaleDecided):
            self.decisions[event.direction] += 1
            self.most_runners = max(self.most_runners, event.to_runners)
        elif isinstance(event, RunnerStopped):
            self.stopped += 1
            self.interrupted += event.interrupted


class Lags:
    """Each processor's lag in seconds, sampled every second."""

    def __init__(
        self,
        settings: ServiceSettings,
        names: TopicNames,
        schema: str,
        *,
        inbox: Timed,
        runs: Timed,
        timers: TimerWorker,
    ) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.projections: dict[str, list[float]] = defaultdict(list)  # lag of each read model
        self._names, self._inbox, self._runs, self._timers = names, inbox, runs, timers
        self._decider = consumer(settings, group=f"{names.prefix}sluice-decider")
        meta = self._decider.list_topics(names.inbox, timeout=10).topics[names.inbox]
        self._inbox_parts = [TopicPartition(names.inbox, p) for p in meta.partitions]
        self._db = psycopg.connect(
            settings.pg_dsn, autocommit=True, options=f"-c search_path={schema}"
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            now = now_ms()
            committed = self._decider.committed(self._inbox_parts, timeout=10)
            decider = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
            self.samples["decider"].append(self._inbox.offsets.lag_s(decider, now))
            timers = self._timers.positions()
            if timers:
                self.samples["timers"].append(self._runs.offsets.lag_s(timers, now))
            by_projection: dict[str, dict[int, int]] = defaultdict(dict)
            for name, partition, offset in self._db.execute(
                "SELECT projection, partition, next_offset FROM projection_offsets"
                " WHERE topic = %s",
                (self._names.runs,),
            ):
                by_projection[name][partition] = offset
            if by_projection:
                each = {n: self._runs.offsets.lag_s(p, now) for n, p in by_projection.items()}
                self.samples["projection"].append(max(each.values()))
                for name, lag in each.items():
                    self.projections[name].append(lag)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._decider.close()
        self._db.close()


def arrivals(runs: int, minutes: float, seed: int) -> list[tuple[float, int]]:
    """(seconds after the start, hour of the day) of each run, Poisson hour by hour."""
    mean = sum(MONDAY) / len(MONDAY)
    compress = DAY_S / (minutes * 60)
    rng = random.Random(seed)
    out: list[tuple[float, int]] = []
    for hour, weight in enumerate(MONDAY):
        rate = runs / DAY_S * weight / mean * compress  # runs per wall-clock second
        start, end = hour * 3600 / compress, (hour + 1) * 3600 / compress
        t = start + rng.expovariate(rate)
        while t < end:
            out.append((t, hour))
            t += rng.expovariate(rate)
    return out


def feed(
    settings: ServiceSettings, names: TopicNames, schedule: list[tuple[float, int]],
    stretch: float, seed: int, *, on_hour: Callable[[int], None],
) -> dict[str, int]:  # fmt: skip
    """Send each run at its time; the hour of each run id. ``on_hour(h)`` as hour ``h`` of
    the day begins (with its first run)."""
    stages = parse_pipeline(pipeline_yaml(stretch)).stages
    rng = random.Random(seed)
    p = producer(settings)
    hours: dict[str, int] = {}
    last_hour = -1
    t0 = time.monotonic()
    for at, hour in schedule:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        if hour != last_hour:
            on_hour(last_hour := hour)
        created = run_created(stages, pipeline_id="day", priority=pick(rng, MIX))
        p.produce(names.inbox, key=created.run_id.encode(), value=encode_event(created))
        p.poll(0)
        hours[created.run_id] = hour
    p.flush(30)
    return hours


POOL_YAML = """\
min_runners: 2
max_runners: {max_runners}
slots_per_runner: {slots}
idle_time: 15s
stabilization_window: 60s
max_step: 8
heartbeat_timeout: 30s
start_timeout: 180s
warm_images: false
"""


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=SEED_RUNS)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--max-runners", type=int, default=55)
    parser.add_argument("--slots", type=int, default=20)
    parser.add_argument("--peak-stages", type=int, default=1000, help="stages at once at the peak")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with (
        scratch_deployment("bd") as (settings, names, schema),
        tempfile.TemporaryDirectory() as tmp,
    ):
        run(settings, names, schema, args, Path(tmp))


def describe(args: argparse.Namespace) -> float:
    """Print what the day is; return how much each stage's seed time is scaled."""
    compress = DAY_S / (args.minutes * 60)
    mean = sum(MONDAY) / len(MONDAY)
    peak_rate = max(MONDAY) / mean * args.runs / DAY_S * compress  # runs per second
    stretch: float = args.peak_stages / (peak_rate * sum(s for _, s in STAGES_S))
    print("SIMULATED EXECUTOR: stages only sleep (runners/simulated.py); no container runs.")
    print(
        f"a Monday of {args.runs:,} runs x 6 stages compressed {compress:.0f}x into"
        f" {args.minutes:g} min; peak hour {max(MONDAY) / mean:.2f}x the day's average"
        f" ({peak_rate:.1f} runs/s at the peak, about {args.peak_stages} stages at once);"
        f" stage sleeps {', '.join(f'{n} {s * stretch:.2f} s' for n, s in STAGES_S)}"
    )
    if args.runs < SEED_RUNS:
        share = SEED_RUNS / args.runs
        print(f"  (the seed's volume is {SEED_RUNS:,} runs a day: this is 1/{share:g} of it)")
    return stretch


def run(
    settings: ServiceSettings, names: TopicNames, schema: str, args: argparse.Namespace,
    tmp: Path,
) -> None:  # fmt: skip
    stretch = describe(args)
    root = str(Path(__file__).resolve().parents[1])
    env = runner_env(tmp / "state", SLUICE_PG_SCHEMA=schema, PYTHONPATH=root)
    env["SLUICE_TOPIC_PREFIX"] = names.prefix
    sluice = str(Path(sys.executable).parent / "sluice")
    common = ["--prefix", names.prefix, "--metrics-port", "0"]
    (tmp / "pool.yaml").write_text(POOL_YAML.format(max_runners=args.max_runners, slots=args.slots))
    day = Day()
    pool = ["pool", "run", "--config", str(tmp / "pool.yaml"), "--work-dir", str(tmp / "pool")]
    commands = {
        "decider": ["processor", "decider", "--worker-id", "day"],
        "projection": ["processor", "projection"],
        "pool": [*pool, SIMULATION_FLAG],
    }
    processes = {
        name: start([sluice, *argv, *common], env, tmp / f"{name}.log")
        for name, argv in commands.items()
    }  # fmt: skip
    timers = TimerWorker(settings=settings, prefix=names.prefix, member_id="day")
    timers_stop = threading.Event()
    threading.Thread(target=timers.run, args=(timers_stop,), daemon=True).start()
    inbox = Timed(settings, names.inbox)
    runs = Timed(settings, names.runs, day.on_run_event)
    fleet = Timed(settings, names.fleet, day.on_fleet_event)
    lags = Lags(settings, names, schema, inbox=inbox, runs=runs, timers=timers)
    meter, sampling = CpuMeter(CPU_PARTS, CPU_OWN), threading.Event()
    threading.Thread(target=sample_every_second, args=(meter, sampling), daemon=True).start()
    try:
        raw = raw_round_trip(settings, names.triggers, 200)
        print(
            f"raw Kafka produce->consume round trip   p50 {statistics.median(raw):6.1f} ms"
            f"   p99 {pct(raw, 0.99):6.1f} ms"
        )
        time.sleep(5)  # the processors and the pool's floor start
        meter.start()
        time.sleep(10)
        idle = meter.ticks()
        schedule = arrivals(args.runs, args.minutes, args.seed)
        meter.start()
        t0 = time.monotonic()
        progress = Progress(day, lags)
        hours = feed(settings, names, schedule, stretch, args.seed, on_hour=progress.hour_begins)
        progress.hour_begins(24)
        fed_s = time.monotonic() - t0
        print(f"fed {len(hours):,} runs in {fed_s:.0f} s (the schedule: {schedule[-1][0]:.0f} s)")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(day.ended) < len(hours):
            time.sleep(1)
        busy, busy_s = meter.ticks(), time.monotonic() - t0
        time.sleep(args.minutes * 60 / 24)  # an hour of the day: the pool scales in
        report(day, lags, hours)
        cpu_report(
            idle=idle, idle_s=10.0, busy=busy, busy_s=busy_s, ended=len(day.ended)
        )  # fmt: skip
    finally:
        sampling.set()
        lags.close()
        for follower in (inbox, runs, fleet):
            follower.close()
        timers_stop.set()
        for process in processes.values():
            stop(process, 120)


class Progress:
    """A line as each hour of the day begins: what the last one did (a day runs for hours)."""

    def __init__(self, day: Day, lags: Lags) -> None:
        self._day, self._lags = day, lags
        self._seen: dict[str, int] = {}

    def hour_begins(self, hour: int) -> None:
        if self._seen:  # the first hour has no last one
            worst = ", ".join(
                f"{name} {max(xs[self._seen[name] :], default=0):.2f}"
                for name, xs in ((n, self._lags.samples.get(n, [])) for n in LAGGING)
            )
            day = self._day
            print(
                f"  by {hour:02d}:00 of the day: {len(day.created):,} runs created,"
                f" {len(day.ended):,} ended; the last hour's worst lag (s): {worst};"
                f" pool decisions {dict(day.decisions)}",
                flush=True,
            )
        self._seen = {name: len(self._lags.samples.get(name, [])) for name in LAGGING}


LAGGING = ("decider", "timers", "projection")
CPU_PARTS = {  # a descendant of this bench, by a piece of its command line
    " runner --runner-id": "runners (stages simulated)",
    "processor decider": "decider",
    "processor projection": "projection (read models)",
    "pool run": "pool (worker manager)",
}
CPU_OWN = "this bench: feeder, timers, followers"


def sample_every_second(meter: CpuMeter, stop: threading.Event) -> None:
    while not stop.wait(1):
        meter.sample()


def cpu_report(
    *, idle: Counter[str], idle_s: float, busy: Counter[str], busy_s: float, ended: int
) -> None:  # fmt: skip
    """CPU per run, and what it says about this machine's ceiling for the seed's day."""
    if not ended:
        return
    idle_ms_s = print_cpu_per(
        idle, idle_s, "second idle (the deployment up at its floor, nothing fed)"
    )
    total = print_cpu_per(
        busy, ended, "run (6 stages), from the first fed to the last ended", CPU_PARTS.values()
    )
    cores = os.cpu_count() or 1
    marginal = total - idle_ms_s * busy_s / ended  # an upper bound: upkeep grows with the pool
    ceiling = (cores * 1000 - idle_ms_s) / marginal
    print(
        f"  of which idle upkeep {total - marginal:.1f} ms and the runs' own {marginal:.1f} ms:"
        f" {cores} cores carry at most ~{ceiling:.0f} runs/s beside the upkeep;"
        f" the seed's day of {SEED_RUNS:,} runs with a peak of"
        f" {max(MONDAY) / (sum(MONDAY) / len(MONDAY)):.1f}x its average fits in no less than"
        f" {SEED_RUNS * max(MONDAY) / sum(MONDAY) * 24 / ceiling / 3600:.1f} h here"
    )


def figures(xs: list[float]) -> str:
    return f"n={len(xs):7,}  p50 {pct(xs, 0.5):6.2f} s  p99 {pct(xs, 0.99):6.2f} s"


def report(day: Day, lags: Lags, hours: dict[str, int]) -> None:
    ended = Counter(outcome for outcome, _ in day.ended.values())
    print(
        f"runs: {len(hours):,} sent, {len(day.created):,} created, {dict(ended)} ended;"
        f" {len(hours) - len(day.ended):,} not ended"
    )
    peak = {run for run, hour in hours.items() if hour in PEAK_HOURS}
    peak_starts = [day.created[r] for r in peak if r in day.created]
    first, last = min(peak_starts, default=0), max(peak_starts, default=0)
    print("queue time (StageQueued -> StageClaimed), all day | peak hours 08-11:")
    for priority in ("critical", "high", "normal", "low"):
        xs = [w for _, w in day.waits.get(priority, [])]
        ps = [w for at, w in day.waits.get(priority, []) if first <= at <= last + 60_000]
        print(f"    {priority:<8} {figures(xs)}  |  {figures(ps)}")
    print("lag behind the head, seconds (sampled every second):")
    for name in LAGGING:
        xs = lags.samples.get(name, [])
        over = sum(x > 1 for x in xs)
        print(
            f"    {name:<10} p50 {pct(xs, 0.5):6.2f}  p99 {pct(xs, 0.99):6.2f}"
            f"  max {max(xs, default=0):6.2f}  samples over 1 s: {over} of {len(xs)}"
        )
    worst = sorted(lags.projections.items(), key=lambda kv: -pct(kv[1], 0.99))[:3]
    print("    the projection's slowest read models, p99:", ", ".join(
        f"{name} {pct(xs, 0.99):.2f} s" for name, xs in worst))  # fmt: skip
    durations = [(day.ended[r][1] - day.created[r]) / 1000 for r in day.ended if r in day.created]
    print(
        f"run duration p50 {pct(durations, 0.5):.1f} s, p99 {pct(durations, 0.99):.1f} s,"
        f" longest {max(durations, default=0):.1f} s"
    )
    print(
        f"pool: decisions {dict(day.decisions)}, at most {day.most_runners} runners;"
        f" {day.stopped} runner(s) stopped, stages interrupted by a scale-in: {day.interrupted}"
    )


if __name__ == "__main__":
    main()
