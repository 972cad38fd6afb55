"""The HTTP API under load on the real services, beside raw floors measured in the same run.

Prints:
  * trigger requests/s: concurrent ``POST /pipelines/{id}/runs`` (each a new run, answered
    201 once the decider accepted it), each followed by a GET of its run (a GET that misses
    it is counted), beside a bare uvicorn ``POST /hello`` with the same client and
    concurrency; then the same POSTs alone, with no GET (what another engine's start request
    compares with);
  * GET p50/p99 of ``/pipelines/{id}/runs/{run_id}`` under concurrent load, beside GET of a
    bare uvicorn hello endpoint;
  * the CPU each process spends per POST + GET, per POST alone and per GET;
  * unless ``--no-shape-floor``: the trigger path's shape with nothing else in it
    (bench/shape_floor.py: an append and a follower, a bare faust hop, a batched
    transactional hop), given the same load: POSTs/s and each process's CPU per POST;
  * unless ``--no-temporal``: the same start requests sent to Temporal's development server (the
    durable-workflow engine issue 17 compares with; SQLite in a file, one process) with the
    same load client, concurrency and warm-up, in the same run: starts/s, latency and the
    server's CPU per start (bench/temporal_peer.py builds its CLI on first use);
  * runs/s without HTTP: the same requests appended straight to sluice.triggers until the
    read model shows every run (the processors' own pace, the floor the API adds to);
  * SSE line latency p50/p99: a ``LogChunk`` appended to ``sluice.logs`` (as a runner does) →
    the line read from ``GET /runs/{id}/logs?follow=true``, beside a raw Kafka
    produce→consume of the same records.
The API and the floor run as child processes (uvicorn, one worker each), and so do the trigger
processor, the decider, the timers and the read models (``sluice processor NAME``, as in
production: ``projection`` runs every registered read model, not only the runs' one, since
session 20; ``--in-process`` runs the last three as threads of the bench, as it once did);
the load client is Python (the standard library's http.client, a keep-alive connection per
thread), so both figures share its ceiling.
Run: .venv/bin/python bench/api.py [--requests 400] [--concurrency 16] [--no-shape-floor]
     [--no-temporal]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from cryptography.fernet import Fernet
from psycopg import sql

from bench import shape_floor
from bench.cpu import Ticks, metered, print_cpu_per
from bench.http_load import HELLO, LoadClient, Reply, child, child_proc, load, pct, row
from bench.temporal_peer import (
    SERVER_VERSION,
    TemporalUnavailable,
    dev_server,
    start_body,
)
from orchestrator.api.publish import append
from orchestrator.api.tokens import create_token
from orchestrator.client import Client, Connection
from orchestrator.domain import RunCreated
from orchestrator.domain.records import LogChunk, RunRequested
from orchestrator.domain.statuses import LogStream
from orchestrator.submit import request_run
from orchestrator.wire import decode_record, encode_record
from projections.decider import Decider
from projections.migrate import migrate
from projections.registry import run_all
from projections.timers import TimerWorker
from schemas.eventlog import TopicNames, consumer, producer, read_partition
from schemas.pg import connect
from schemas.settings import ServiceSettings
from schemas.topics import INBOX, RUNS, TRIGGERS
from tests.support.leftovers import delete_topics_under
from tests.support.ports import free_ports
from tests.support.stack import create_topics
from tests.unit.triggers.gitrepos import GitRepo

PIPELINE = """\
name: bench
stages:
  build: {script: ['true']}
  test: {needs: [build], script: ['true']}
"""
MAIN = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"


_CLIENT = "load client (this bench)"
_PARTS = {  # a child of this bench, by a piece of its command line
    " api --port": "API",
    "projections.triggers": "trigger processor",
    "processor decider": "decider",
    "processor timers": "timers",
    "processor projection": "read models",
}


def bench_sse(
    api: str, token: str, settings: ServiceSettings, run_id: str, lines: int
) -> list[float]:
    """Latency (ms) from appending a LogChunk to reading its line from the SSE stream."""
    sent: dict[int, float] = {}
    got: dict[int, float] = {}
    client = Client(Connection(api, token))

    def read() -> None:
        for event in client.follow(run_id):
            if event.data.startswith("bench "):
                got[int(event.data.split()[1])] = time.perf_counter()
                if len(got) == lines:
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(1.0)  # let the stream subscribe before the first line
    p = producer(settings)
    topic = TopicNames(settings.topic_prefix).logs
    for seq in range(lines):
        sent[seq] = time.perf_counter()
        append(p, topic, f"{run_id}/build/1", chunk(run_id, seq))
        time.sleep(0.02)
    reader.join(30)
    client.close()
    return [(got[s] - sent[s]) * 1000 for s in sent if s in got]


def chunk(run_id: str, seq: int) -> LogChunk:
    return LogChunk(
        run_id=run_id,
        stage="build",
        attempt=1,
        seq=seq,
        stream=LogStream.STDOUT,
        data=f"bench {seq}\n",
        final=False,
        occurred_at_ms=time.time_ns() // 1_000_000,
    )


def branches(repo: GitRepo, sha: str, names: list[str]) -> None:
    """Branches ``names`` at ``sha`` in the repository (the API refuses unknown branches)."""
    refs = "".join(f"create refs/heads/{name} {sha}\n" for name in names)
    subprocess.run(
        ["git", "-C", str(repo.bare), "update-ref", "--stdin"], input=refs, text=True, check=True
    )


def where_time_went(settings: ServiceSettings, windows: dict[str, tuple[float, float]]) -> None:
    """Split each POST by the timestamps Kafka keeps on its records (the producer's clock,
    this machine's, ms resolution): request → RunRequested on sluice.triggers (HTTP, auth,
    pipeline row, append) → RunCreated on sluice.inbox (trigger processor) → RunCreated on
    sluice.runs (decider) → 201 received (commit, the API's follower, the response)."""
    names = TopicNames(settings.topic_prefix)
    logs = [
        first_stamps(settings, topic, partitions)
        for topic, partitions in (
            (names.triggers, TRIGGERS.partitions),
            (names.inbox, INBOX.partitions),
            (names.runs, RUNS.partitions),
        )
    ]
    steps: dict[str, list[float]] = {
        "API: request → trigger appended": [],
        "trigger processor: → inbox": [],
        "decider: → sluice.runs": [],
        "commit, follower, response: → 201": [],
    }
    for run_id, (sent, answered) in windows.items():
        if all(run_id in log for log in logs):
            marks = (sent, *(log[run_id] for log in logs), answered)
            for name, (a, b) in zip(steps, itertools.pairwise(marks), strict=True):
                steps[name].append(b - a)
    print(f"  where a POST's time went (Kafka's record timestamps, {len(windows)} POSTs):")
    for name, xs in steps.items():
        if xs:
            print(f"    {name:<36} p50 {statistics.median(xs):7.1f}   p99 {pct(xs, 0.99):7.1f} ms")


def first_stamps(settings: ServiceSettings, topic: str, partitions: int) -> dict[str, float]:
    """run_id: the timestamp of its first RunRequested or RunCreated on ``topic``."""
    out: dict[str, float] = {}
    for partition in range(partitions):
        for msg in read_partition(settings, topic, partition):
            record = decode_record(msg.value() or b"")
            if isinstance(record, RunRequested | RunCreated):
                out.setdefault(record.run_id, msg.timestamp()[1])
    return out


def processors_rate(
    settings: ServiceSettings, opts: argparse.Namespace, *, sha: str, schema: str
) -> float:
    """The processors' own pace: requests appended straight to sluice.triggers (as the API
    does) until the read model shows every run, with no HTTP and no API in between."""
    requests: int = opts.requests
    p = producer(settings)
    start = time.perf_counter()
    with ThreadPoolExecutor(opts.concurrency) as pool:
        list(
            pool.map(
                lambda i: request_run(
                    p,
                    pipeline_id="bench",
                    branch=f"raw{i}",
                    commit_sha=sha,
                    requested_by="bench",
                    prefix=settings.topic_prefix,
                ),
                range(requests),
            )
        )
    with connect(settings.pg_dsn, schema=schema, name="bench-api") as conn:
        while True:
            row_ = conn.execute(
                "SELECT count(*) FROM pipeline_runs WHERE branch LIKE 'raw%%'"
            ).fetchone()
            if row_ is not None and row_[0] >= requests:
                break
            time.sleep(0.01)
    return requests / (time.perf_counter() - start)


def raw_kafka(settings: ServiceSettings, lines: int) -> list[float]:
    """The floor of SSE: produce (acks=all) → consume of the same records on a bare topic."""
    topic = TopicNames(settings.topic_prefix).logs
    c = consumer(settings, group=f"bench-{uuid.uuid4().hex}")
    p = producer(settings)
    key = f"raw-{uuid.uuid4().hex}/build/1"
    from schemas.eventlog import partition_for  # noqa: PLC0415

    part = partition_for(key, 12)
    end = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10, cached=False)[1]
    c.assign([TopicPartition(topic, part, end)])
    out = []
    for seq in range(lines):
        start = time.perf_counter()
        p.produce(topic, key=key.encode(), value=encode_record(chunk("raw", seq)))
        p.flush(10)
        while True:
            msg = c.poll(5)
            if msg is not None and msg.error() is None and msg.key() == key.encode():
                decode_record(msg.value() or b"")
                break
        out.append((time.perf_counter() - start) * 1000)
    c.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--warm", type=int, default=1500, help="unmeasured triggers first")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the decider, timers and read model as threads of this process (as before)",
    )
    parser.add_argument(
        "--shape-floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the trigger path's shape with nothing else in it (bench/shape_floor.py)",
    )
    parser.add_argument(
        "--temporal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also send the start requests to Temporal's dev server, beside Sluice's POSTs",
    )
    opts = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"bench{tag}.", f"bench_api_{tag}"
    base = ServiceSettings.from_env()
    settings = replace(base, topic_prefix=prefix)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = create_topics(admin, prefix)
    tmp = Path(tempfile.mkdtemp(prefix="sluice-bench-api-"))
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        migrate(conn, schema=schema)
    stop = threading.Event()
    try:
        return run(opts, settings, schema, tmp, stop)
    finally:
        stop.set()
        delete_topics_under(admin, [prefix])
        with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        del topics


def run(
    opts: argparse.Namespace,
    settings: ServiceSettings,
    schema: str,
    tmp: Path,
    stop: threading.Event,
) -> int:
    prefix = settings.topic_prefix
    env = {
        **os.environ,
        "SLUICE_TOPIC_PREFIX": prefix,
        "SLUICE_PG_SCHEMA": schema,
        "SLUICE_CACHE_DIR": str(tmp / "cache"),
        "SLUICE_STATE_DIR": str(tmp / "state"),
        "SLUICE_SECRETS_KEY": Fernet.generate_key().decode(),
        "SLUICE_API_RATE": "100000",
        "SLUICE_API_BURST": "100000",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    if opts.in_process:
        for work in (
            Decider(settings=settings, prefix=prefix, worker_id="bench").run,
            TimerWorker(settings=settings, prefix=prefix).run,
            lambda done: run_all(settings, prefix=prefix, schema=schema, stop=done),
        ):
            threading.Thread(target=work, args=(stop,), daemon=True).start()
        processors = []
    else:  # each in its own process, as `sluice processor NAME` runs in production
        processors = [
            [sys.executable, "-c", MAIN, "processor", name, "--metrics-port", "0"]
            for name in ("decider", "timers", "projection")  # in SLUICE_PG_SCHEMA: the bench's
        ]
    with connect(settings.pg_dsn, schema=schema, name="bench-api") as c:
        token = create_token(c, name="bench", scopes=["admin"]).secret
    (tmp / "hello.py").write_text(HELLO)
    api_port, floor_port = free_ports(2)
    api, floor = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{floor_port}"
    triggers = [sys.executable, "-m", "projections.triggers"]
    with (
        ExitStack() as others,
        child_proc(triggers, env, tmp / "triggers.log"),
        child(
            [sys.executable, "-c", MAIN, "api", "--port", str(api_port)],
            env,
            f"{api}/healthz",
            tmp / "api.log",
        ),
        child(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(tmp),
                "hello:app",
                "--port",
                str(floor_port),
                "--log-level",
                "warning",
            ],
            env,
            f"{floor}/hello",
            tmp / "floor.log",
        ),
    ):
        for i, args in enumerate(processors):
            others.enter_context(child_proc(args, env, tmp / f"processor{i}.log"))
        return measure(opts, settings, api=api, floor=floor, token=token, tmp=tmp, schema=schema)


def ready(
    http: LoadClient, api: str, repo: GitRepo, sha: str, *, warm: list[str], concurrency: int
) -> str:
    """Pipeline ``bench`` registered, its runs answered and ``warm`` triggered unmeasured;
    the URL of its runs."""
    deadline = time.monotonic() + 90  # the processors (faust most) take seconds to start
    body = {"pipeline_id": "bench", "name": "bench", "repo_url": repo.url}
    while (made := http.post(f"{api}/pipelines", json=body)).status_code not in (201, 409):
        if time.monotonic() > deadline:  # 409: recorded by an earlier try, shown since
            raise SystemExit(f"the pipeline was not registered within 90 s: {made.text}")
    runs = f"{api}/pipelines/bench/runs"
    while http.post(runs, json={"branch": "warm", "commit_sha": sha}).status_code not in (200, 201):
        if time.monotonic() > deadline:
            raise SystemExit("the trigger processor did not answer within 90 s")
    # The first records on each partition of the bench's new topics, and the broker's JIT,
    # cost the broker a burst of CPU that a long-running deployment paid long ago (Kafka's
    # CPU per POST + GET of 400 requests was 15-26 ms after 1 trigger, 4.5-8.6 after 200;
    # of 1,000 requests, 4.3-4.9 after 200 and 3.5 after 1,500, in alternating runs).
    load(
        len(warm),
        concurrency,
        lambda i: http.post(runs, json={"branch": warm[i], "commit_sha": sha}),
    )
    return runs


def analyze(settings: ServiceSettings, schema: str) -> None:
    """Statistics for the bench's new tables, as a running deployment's have.

    A table never analyzed has no statistics, and PostgreSQL's generic plan for the read
    model's ``WHERE run_id = ANY($1)`` on it is a sequential scan. The projection's
    connection prepares that query after five runs and keeps the generic plan until
    autovacuum first analyzes the table, at most a minute later: in this bench's warm-up
    and first measured phase, ~1,000 scans of every row of ``pipeline_runs`` and ``stages``
    (pg_stat_user_tables), where a deployment that has run for minutes reads a few index
    entries."""
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )


def print_unanswered(count: int, n: int) -> None:
    """How many POSTs were not answered 201: a 202 is a run requested whose acceptance the
    API did not see within its answer timeout (10 s), a stall the latency figures show
    only as their p99."""
    print(f"  POSTs answered 202 (acceptance not seen within the API's timeout): {count} of {n}")


def post_alone(
    http: LoadClient, runs: str, *, sha: str, branches_: list[str], conc: int, floor_rate: float
) -> None:
    """Trigger POSTs with no GET after them: the figure a start request of another engine
    compares with (a start request alone), and what a POST costs without its read."""
    unanswered: list[int] = []

    def post(i: int) -> Reply:
        response = http.post(runs, json={"branch": branches_[i], "commit_sha": sha})
        if response.status_code != 201:
            unanswered.append(i)
        return response

    (rate, latencies), cpu = metered(lambda: load(len(branches_), conc, post), _PARTS, _CLIENT)
    row("trigger POST alone /s", rate, floor_rate, "req/s", "higher")
    print(
        f"  {'trigger POST alone latency p50/p99':<34} {pct(latencies, 0.5):.1f}"
        f" / {pct(latencies, 0.99):.1f} ms"
    )
    print_unanswered(len(unanswered), len(branches_))
    print_cpu_per(cpu, len(branches_), "POST alone", _PARTS.values())
    print_in_client_units(cpu, "Sluice's CPU a POST alone")


def print_in_client_units(cpu: Counter[str], what: str) -> None:
    """The CPU a request costs what serves it, in units of the load client's own. The
    client does the same work for every request of every run, yet its CPU a POST swung
    0.23-0.36 ms between runs of one session: this machine's speed moves by a fifth from one
    minute to the next, and every part's CPU with it. The ratio moves with the served side's
    cost, not with the machine's speed (docs/trigger-path.md, item 24)."""
    client = cpu[_CLIENT]
    if client:
        served = sum(cpu.values()) - client
        print(f"  {what}, in units of the load client's: {served / client:.1f}")


def beside_temporal(opts: argparse.Namespace, tmp: Path, *, floor_rate: float) -> None:
    """Temporal's dev server given what Sluice's API was given just before: the same load
    client, concurrency and warm-up, start requests each with a new workflow id (a new run),
    then each start followed by a GET of its workflow (``DescribeWorkflowExecution``)."""
    try:
        with dev_server(tmp, log=tmp / "temporal.log") as server, closing(LoadClient({})) as http:
            body = start_body("bench")
            tag = uuid.uuid4().hex[:8]
            load(
                opts.warm,
                opts.concurrency,
                lambda i: http.post(server.start_url(f"w{tag}-{i}"), body),
            )
            peer = f"temporal {SERVER_VERSION}"
            parts = {"server start-dev": peer}
            (rate, latencies), cpu = metered(
                lambda: load(
                    opts.requests,
                    opts.concurrency,
                    lambda i: http.post(server.start_url(f"s{tag}-{i}"), body),
                ),
                parts,
                _CLIENT,
            )
            row("start request alone /s", rate, floor_rate, "req/s", "higher", who=peer)
            print(
                f"  {'start request latency p50/p99':<34} {peer} {pct(latencies, 0.5):.1f}"
                f" / {pct(latencies, 0.99):.1f} ms"
            )
            print_cpu_per(
                _only(cpu, parts), opts.requests, f"{peer} start request alone", parts.values()
            )
            print_in_client_units(_only(cpu, parts), f"{peer}'s CPU a start request alone")

            def start_and_get(i: int) -> Reply:
                url = server.start_url(f"g{tag}-{i}")
                started = http.post(url, body)
                if started.status_code == 200 and http.get(url).status_code != 200:
                    raise SystemExit(f"Temporal did not show workflow g{tag}-{i} after its start")
                return started

            pair_rate, _ = load(opts.requests, opts.concurrency, start_and_get)
            row("start + GET of it /s", pair_rate, floor_rate, "req/s", "higher", who=peer)
    except TemporalUnavailable as e:
        print(f"  Temporal: not measured ({e})")


def _only(cpu: Ticks, parts: dict[str, str]) -> Ticks:
    """The peer's own processes and the load client: Sluice's, idle meanwhile, left out."""
    return cpu.only({*parts.values(), _CLIENT})


def post_then_get(
    http: LoadClient,
    settings: ServiceSettings,
    *,
    runs: str,
    floor: str,
    sha: str,
    n: int,
    conc: int,
) -> tuple[list[str], float, float]:
    """Trigger POSTs each followed by a GET of its run (read-your-writes, counted), beside
    the bare uvicorn floor; the run ids, their rate and the floor's."""
    run_ids: list[str] = []
    missed: list[str] = []
    unanswered: list[str] = []
    post_lat: list[float] = []
    windows: dict[str, tuple[float, float]] = {}  # run_id: the POST's start and end (epoch ms)

    def post(i: int) -> Reply:
        t0, sent = time.perf_counter(), time.time() * 1000
        response = http.post(runs, json={"branch": f"b{i}", "commit_sha": sha})
        post_lat.append((time.perf_counter() - t0) * 1000)
        run_id = response.json().get("run_id", "")
        run_ids.append(run_id)
        windows[run_id] = (sent, time.time() * 1000)
        if response.status_code != 201:
            unanswered.append(run_id)
        elif http.get(f"{runs}/{run_id}").status_code != 200:
            missed.append(run_id)  # read-your-writes broken: a GET right after the 201
        return response

    (trig_rate, _), cpu = metered(lambda: load(n, conc, post), _PARTS, _CLIENT)
    floor_rate, _ = load(n, conc, lambda i: http.post(f"{floor}/hello", json={"i": i}))
    row("trigger POST (+ GET of the run) /s", trig_rate, floor_rate, "req/s", "higher")
    print(f"  GET right after a 201 that did not find the run: {len(missed)} of {n}")
    print_unanswered(len(unanswered), n)
    print(
        f"  {'trigger POST latency p50/p99':<34} {pct(post_lat, 0.5):.1f}"
        f" / {pct(post_lat, 0.99):.1f} ms"
    )
    where_time_went(settings, windows)
    print_cpu_per(cpu, n, "POST + GET", _PARTS.values())
    return run_ids, trig_rate, floor_rate


def measure(
    opts: argparse.Namespace,
    settings: ServiceSettings,
    *,
    schema: str,
    api: str,
    floor: str,
    token: str,
    tmp: Path,
) -> int:
    repo = GitRepo(tmp / "repo")
    sha = repo.commit({"pipeline.yaml": PIPELINE})
    warm = [f"warm{i}" for i in range(opts.warm)]
    alone = [f"p{i}" for i in range(opts.requests)]
    branches(repo, sha, ["warm", *warm, *(f"b{i}" for i in range(opts.requests)), *alone])
    http = LoadClient({"Authorization": f"Bearer {token}"})
    runs = ready(http, api, repo, sha, warm=warm, concurrency=opts.concurrency)
    analyze(settings, schema)
    n, conc = opts.requests, opts.concurrency
    print(f"bench/api.py: {n} requests, {conc} concurrent clients, one broker, one API process")
    print(f"  (after {opts.warm} unmeasured triggers that warm the new topics and the processes)")
    run_ids, trig_rate, floor_rate = post_then_get(
        http, settings, runs=runs, floor=floor, sha=sha, n=n, conc=conc
    )
    post_alone(http, runs, sha=sha, branches_=alone, conc=conc, floor_rate=floor_rate)
    if opts.shape_floor:
        shape_floor.beside(
            settings,
            tmp,
            requests=n,
            warm=opts.warm,
            concurrency=conc,
            bare_rate=floor_rate,
        )
    if opts.temporal:
        beside_temporal(opts, tmp, floor_rate=floor_rate)
    direct = processors_rate(settings, opts, sha=sha, schema=schema)
    row("runs/s without HTTP (same path)", trig_rate, direct, "run/s", "higher")
    target = f"{runs}/{run_ids[0]}"
    (_, get_lat), get_cpu = metered(
        lambda: load(n * 2, conc, lambda i: http.get(target)), _PARTS, _CLIENT
    )
    _, floor_lat = load(n * 2, conc, lambda i: http.get(f"{floor}/hello"))
    row("GET run p50 under load", pct(get_lat, 0.5), pct(floor_lat, 0.5), "ms")
    row("GET run p99 under load", pct(get_lat, 0.99), pct(floor_lat, 0.99), "ms")
    print_cpu_per(get_cpu, n * 2, "GET of a run the read model shows")
    sse = bench_sse(api, token, settings, run_ids[1], opts.lines)
    raw = raw_kafka(settings, opts.lines)
    print(f"  SSE lines received: {len(sse)}/{opts.lines}")
    row("SSE line latency p50", statistics.median(sse), statistics.median(raw), "ms")
    row("SSE line latency p99", pct(sse, 0.99), pct(raw, 0.99), "ms")
    http.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
