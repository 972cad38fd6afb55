"""kill -9 and restart: how long until the killed process's work goes on, beside raw floors.

Measured in the same run, each on topics of its own:

* decider, with a generated history of ``--runs-per-day`` finished diamond runs over
  ``--days`` days of log time (default 3 and 30: the same load, 10x the history). The
  decider checkpoints it once, is killed with SIGKILL, restarted with the same worker id,
  and a new run is sent at once: the figure is kill → that run's first ``StageQueued`` on
  ``sluice.runs``. Beside it: the fold of the whole history from offset 0 (what a takeover
  cost before checkpoints) and one Kafka round trip (acks=all);
* timers: killed while a lease runs, restarted; a lease falls due about 1 s after the kill: the
  figure is kill → its ``StageLeaseExpired`` on ``sluice.runs`` (the decider runs throughout);
* projection: killed, restarted, one event appended: kill → its row committed in PostgreSQL;
* API: killed, restarted: kill → ``/healthz`` answers 200;
* trigger processor (faust): killed, restarted, a run requested: kill → its ``RunCreated``;
* notifier: killed, restarted, a run finished: kill → its webhook at a local receiver;
* deployer, mid-rollout of 3 instances v1 → v2 (real Docker and HAProxy): killed once a v2
  instance is healthy, restarted: kill → its next deployment step, and kill → the
  deployment succeeded;
* runner alone on its host, mid-stage in a real container: killed, a new runner started at
  once on the same state directory (the same host): kill → the attempt reported failed by
  the new runner's reaper, and kill → the next attempt started in a container;

beside the floor of any restart on this machine: Python starting and importing the code.

It prints a table. It asserts nothing about time: ``tests/integration/orchestration/
test_takeover.py`` checks that nothing is lost or doubled.

    .venv/bin/python bench/takeover.py [--runs-per-day 3000] [--days 3 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka.admin import AdminClient
from psycopg import sql

from bench.dispatch import one_stage_repository
from orchestrator.domain import parse_pipeline
from orchestrator.domain.events import RunCreated, RunEvent, RunSucceeded, StageClaimed
from orchestrator.submit import register_pipeline, request_run
from orchestrator.wire import decode_event, encode_event
from projections.decider import rebuild_partition
from projections.migrate import migrate
from projections.notify_store import subscribe
from projections.projector import READ_MODEL
from projections.runner import wait_until
from runners.deployer.haproxy import HAProxy
from runners.deployer.instances import ENV_LABEL
from runners.reaper import RUN_LABEL
from schemas.eventlog import TopicNames, consumer, end_offsets, partition_for, producer
from schemas.settings import ServiceSettings
from schemas.topics import RUN_PARTITIONS
from tests.support.deploy_pipelines import THREE_REPLICAS
from tests.support.deployapp import app_image
from tests.support.ports import free_port
from tests.support.runner_env import runner_env
from tests.support.runs import run_created
from tests.support.stack import create_topics, delete_topics
from tests.unit.domain.domain_helpers import Driver, diamond

DAY_MS = 24 * 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def start(
    name: str, prefix: str, worker: str, log: Path | None = None, schema: str | None = None
) -> subprocess.Popen[bytes]:
    sluice = str(Path(sys.executable).parent / "sluice")
    args = ["--worker-id", worker, "--prefix", prefix, "--metrics-port", "0"]
    env = {**os.environ, "SLUICE_TOPIC_PREFIX": prefix}
    if schema is not None:
        env["SLUICE_PG_SCHEMA"] = schema
    with open(log or os.devnull, "wb") as out:
        return subprocess.Popen(
            [sluice, "processor", name, *args], env=env, stdout=subprocess.DEVNULL, stderr=out
        )


_LOADED = re.compile(r"partition \d+: (\d+) checkpoint records, (\d+) tail events.*, ([\d.]+) s")


def loads(log: Path) -> tuple[int, int, float]:
    """Checkpoint records, tail events and seconds of the partition loads a decider logged."""
    found = [_LOADED.search(line) for line in log.read_text().splitlines()]
    hits = [m for m in found if m is not None]
    return (
        sum(int(m[1]) for m in hits),
        sum(int(m[2]) for m in hits),
        sum(float(m[3]) for m in hits),
    )


def kill(process: subprocess.Popen[bytes]) -> float:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    return time.monotonic()


def template() -> list[RunEvent]:
    driver = Driver(diamond(), run_id="template", now=0)
    for stage in ("build", "lint", "test", "package"):
        driver.run_stage(stage)
    return driver.log


def generate(settings: ServiceSettings, names: TopicNames, runs: int, days: int) -> int:
    """``runs`` finished runs spread over ``days`` days ending now, on sluice.runs."""
    events = template()
    tuning: dict[str, Any] = {"linger.ms": 50, "batch.size": 1_000_000}
    out = producer(settings, **tuning)
    first = now_ms() - days * DAY_MS
    step = days * DAY_MS // runs
    for n in range(runs):
        run_id = f"h{n:09d}"
        partition = partition_for(run_id, RUN_PARTITIONS)
        for event in events:
            moved = dataclasses.replace(
                event, run_id=run_id, occurred_at_ms=first + n * step + event.occurred_at_ms
            )
            out.produce(
                names.runs, key=run_id.encode(), value=encode_event(moved), partition=partition
            )
            out.poll(0)
    assert out.flush(120) == 0
    return runs * len(events)


def tail(settings: ServiceSettings, topic: str) -> Consumer:
    c = consumer(settings, group=f"bench-{uuid.uuid4().hex}")
    c.list_topics(topic, timeout=10)
    for _ in range(100):  # a topic just created: wait for its metadata
        if len(c.list_topics(topic, timeout=10).topics[topic].partitions) == RUN_PARTITIONS:
            break
        time.sleep(0.1)
    ends = end_offsets(c, topic, list(range(RUN_PARTITIONS)))
    c.assign([TopicPartition(topic, p, end) for p, end in ends.items()])
    return c


def wait_for(c: Consumer, run_id: str, kind: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.05)
        if msg is None or msg.error() is not None:
            continue
        event = decode_event(msg.value() or b"")
        if event.run_id == run_id and type(event).__name__ == kind:
            return time.monotonic()
    raise TimeoutError(f"no {kind} for {run_id} within {timeout} s")


def send(settings: ServiceSettings, names: TopicNames, event: RunEvent) -> None:
    out = producer(settings)
    out.produce(names.inbox, key=event.run_id.encode(), value=encode_event(event))
    assert out.flush(10) == 0


def new_run(settings: ServiceSettings, names: TopicNames) -> str:
    run_id = uuid.uuid4().hex
    send(
        settings, names, dataclasses.replace(template()[0], run_id=run_id, occurred_at_ms=now_ms())
    )
    return run_id


def checkpointed(settings: ServiceSettings, names: TopicNames) -> bool:
    c = consumer(settings, group=f"bench-{uuid.uuid4().hex}")
    try:
        ends = end_offsets(c, names.checkpoints, list(range(RUN_PARTITIONS)))
    finally:
        c.close()
    return all(end > 0 for end in ends.values())


def decider_takeover(
    settings: ServiceSettings, admin: AdminClient, runs: int, days: int, *, fold: int
) -> dict[str, float]:
    prefix = f"bto{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    try:
        events = generate(settings, names, runs, days)
        whole, full_fold = 0, -1.0
        if events <= fold:
            started = time.perf_counter()
            whole = sum(len(rebuild_partition(settings, names, p)) for p in range(RUN_PARTITIONS))
            full_fold = time.perf_counter() - started
        decider = start("decider", prefix, "w1")
        watch = tail(settings, names.runs)
        first = new_run(settings, names)  # its transaction writes the first checkpoints
        wait_for(watch, first, "StageQueued", timeout=600)
        deadline = time.monotonic() + 60
        while not checkpointed(settings, names) and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = kill(decider)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "decider.log"
            decider = start("decider", prefix, "w1", log)
            run_id = new_run(settings, names)
            decided = wait_for(watch, run_id, "StageQueued")
            kill(decider)
            records, tail_events, load_s = loads(log)
        watch.close()
        return {
            "records": records,
            "tail": tail_events,
            "load_s": load_s,
            "runs": runs,
            "days": days,
            "events": events,
            "whole": whole,
            "full_fold_s": full_fold,
            "takeover_s": decided - killed,
        }
    finally:
        delete_topics(admin, topics)


def timers_takeover(settings: ServiceSettings, admin: AdminClient) -> float:
    prefix = f"btt{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    decider = start("decider", prefix, "w1")
    timers = start("timers", prefix, "t1")
    try:
        watch = tail(settings, names.runs)
        run_id = new_run(settings, names)
        wait_for(watch, run_id, "StageQueued", timeout=120)
        time.sleep(8)  # both processes have joined their groups
        claim = StageClaimed(
            run_id=run_id,
            occurred_at_ms=now_ms(),
            stage="build",
            attempt=1,
            runner_id="bench",
            lease_deadline_ms=now_ms() + 1500,
        )
        send(settings, names, claim)
        wait_for(watch, run_id, "StageClaimed")
        killed = kill(timers)  # the lease falls due about 1 s from now
        timers = start("timers", prefix, "t1")
        expired = wait_for(watch, run_id, "StageLeaseExpired")
        watch.close()
        return expired - killed
    finally:
        kill(timers)
        kill(decider)
        delete_topics(admin, topics)


_PROJECTION = (
    "import sys, threading\n"
    "from projections.projector import run\n"
    "from schemas.settings import ServiceSettings\n"
    "run(ServiceSettings.from_env(), prefix=sys.argv[1], schema=sys.argv[2], "
    "stop=threading.Event())\n"
)


def start_projection(prefix: str, schema: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _PROJECTION, prefix, schema],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def projection_takeover(settings: ServiceSettings, admin: AdminClient) -> float:
    """Kill the read-model projection, restart it, append one event: kill → row committed."""
    prefix = f"btp{uuid.uuid4().hex[:6]}."
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        migrate(conn, schema=schema)
    projection = start_projection(prefix, schema)
    out = producer(settings)
    try:
        with psycopg.connect(settings.pg_dsn, options=f"-c search_path={schema}") as conn:
            first = _append(out, names, "warm-up")
            wait_until(conn, READ_MODEL.label, names.runs, *first, timeout=120)
            killed = kill(projection)
            projection = start_projection(prefix, schema)
            after = _append(out, names, "after")
            wait_until(conn, READ_MODEL.label, names.runs, *after, timeout=120)
            return time.monotonic() - killed
    finally:
        kill(projection)
        delete_topics(admin, topics)
        with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def own_deployment(settings: ServiceSettings, admin: AdminClient, tag: str) -> Iterator[Own]:
    """Topics and a migrated PostgreSQL schema of their own, removed afterwards."""
    prefix = f"{tag}{uuid.uuid4().hex[:6]}."
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    topics = create_topics(admin, prefix)
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        migrate(conn, schema=schema)
    try:
        yield Own(TopicNames(prefix), schema)
    finally:
        delete_topics(admin, topics)
        with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@dataclasses.dataclass(frozen=True)
class Own:
    names: TopicNames
    schema: str


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: the monotonic time of each POST, by delivery."""

    got: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Receiver.got.append(time.monotonic())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


def notifier_takeover(settings: ServiceSettings, admin: AdminClient) -> float:
    """Kill the notifier, restart it, finish one run: kill → its webhook received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    created = template()[0]
    assert isinstance(created, RunCreated)
    with own_deployment(settings, admin, "btn") as own:
        with psycopg.connect(
            settings.pg_dsn, autocommit=True, options=f"-c search_path={own.schema}"
        ) as conn:
            subscribe(conn, pipeline_id=created.pipeline_id, channel="webhook", target=url,
                      events=["run.succeeded"])  # fmt: skip
        notifier = start("notifier", own.names.prefix, "n1", schema=own.schema)
        out = producer(settings)
        try:
            _finished_run(out, own.names)
            _wait(lambda: len(_Receiver.got) >= 1, "the first webhook")
            killed = kill(notifier)
            notifier = start("notifier", own.names.prefix, "n1", schema=own.schema)
            _finished_run(out, own.names)
            _wait(lambda: len(_Receiver.got) >= 2, "the webhook after the restart")
            return _Receiver.got[1] - killed
        finally:
            kill(notifier)
            server.shutdown()


def _finished_run(out: KafkaProducer, names: TopicNames) -> None:
    created = dataclasses.replace(template()[0], run_id=uuid.uuid4().hex, occurred_at_ms=now_ms())
    done = RunSucceeded(run_id=created.run_id, occurred_at_ms=now_ms())
    for event in (created, done):
        out.produce(names.runs, key=created.run_id.encode(), value=encode_event(event))
    assert out.flush(10) == 0


def _wait(done: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.01)


HOLD = "name: hold\nstages:\n  hold: {script: ['sleep 600']}\n"


def runner_takeover(settings: ServiceSettings, admin: AdminClient) -> tuple[float, float]:
    """kill -9 the only runner of the host mid-stage (a real container), start a new one:
    kill → the stage's attempt reported failed (the new runner's reaper), and kill → its
    next attempt's container created (the dead runner's was removed by the reaper)."""
    with own_deployment(settings, admin, "btr") as own, tempfile.TemporaryDirectory() as tmp:
        names = own.names
        repo = Path(tmp) / "repo"
        repo.mkdir()
        url, sha = one_stage_repository(repo, HOLD)
        decider = start("decider", names.prefix, "w1")
        timers = start("timers", names.prefix, "t1")
        runner = _runner(names.prefix, own.schema, Path(tmp) / "state")
        try:
            watch = tail(settings, names.runs)
            run = run_created(parse_pipeline(HOLD).stages, occurred_at_ms=now_ms())
            run = dataclasses.replace(run, repo_url=url, commit_sha=sha)
            send(settings, names, run)
            wait_for(watch, run.run_id, "StageClaimed", timeout=300)
            _wait(lambda: bool(_containers_of(run.run_id)), "the stage's container", 300)
            killed = kill(runner)
            runner = _runner(names.prefix, own.schema, Path(tmp) / "state")
            failed = wait_for(watch, run.run_id, "StageFailed")
            wait_for(watch, run.run_id, "StageClaimed")  # attempt 2, accepted: its container
            _wait(lambda: len(_containers_of(run.run_id)) == 1, "attempt 2's container", 120)
            started = time.monotonic()
            watch.close()
            return failed - killed, started - killed
        finally:
            for p in (runner, timers, decider):
                kill(p)
            subprocess.run(  # the second attempt's container (sleep 600)
                ["docker", "rm", "-f", *_containers_of(run.run_id)],
                capture_output=True,
                check=False,
            )


def _containers_of(run_id: str) -> list[str]:
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.split()


def _runner(prefix: str, schema: str, state: Path) -> subprocess.Popen[bytes]:
    sluice = str(Path(sys.executable).parent / "sluice")
    env = runner_env(state, SLUICE_TOPIC_PREFIX=prefix, SLUICE_PG_SCHEMA=schema)
    args = [sluice, "runner", "--runner-id", f"r-{uuid.uuid4().hex[:6]}", "--prefix", prefix]
    return subprocess.Popen([*args, "--metrics-port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


_STEPS = {"InstanceStarted", "InstanceHealthy", "InstanceStopped", "TrafficShifted"}


def deployer_takeover(settings: ServiceSettings, admin: AdminClient) -> tuple[float, float]:
    """kill -9 the deployer mid-rollout (3 instances v1 → v2, real Docker and HAProxy),
    restart it: kill → its next deployment step on sluice.runs, and kill → the deployment
    succeeded."""
    client = docker.from_env()
    v1 = app_image(client, "v1", VERSION="v1")
    v2 = app_image(client, "v2", VERSION="v2")
    env = f"bt{uuid.uuid4().hex[:8]}"
    with own_deployment(settings, admin, "btd") as own:
        names = own.names
        decider = start("decider", names.prefix, "w1")
        timers = start("timers", names.prefix, "t1")
        deployer = start("deployer", names.prefix, "d1")
        try:
            watch = tail(settings, names.runs)
            first = _deploy_run(settings, names, env, v1)
            wait_for(watch, first, "RunSucceeded", timeout=180)
            second = _deploy_run(settings, names, env, v2)
            wait_for(watch, second, "InstanceHealthy", timeout=120)
            killed = kill(deployer)
            deployer = start("deployer", names.prefix, "d1")
            step = wait_any(watch, second, _STEPS)
            done = wait_for(watch, second, "DeploymentSucceeded", timeout=180)
            watch.close()
            return step - killed, done - killed
        finally:
            for p in (deployer, timers, decider):
                kill(p)
            for c in client.containers.list(
                all=True, filters={"label": f"{ENV_LABEL}={env}"}, ignore_removed=True
            ):
                c.remove(force=True)
            HAProxy(settings.haproxy_dir).remove_environment(env)


def _deploy_run(settings: ServiceSettings, names: TopicNames, env: str, image: str) -> str:
    stages = parse_pipeline(THREE_REPLICAS.format(env=env, image=image)).stages
    run = run_created(stages, occurred_at_ms=now_ms())
    send(settings, names, run)
    return run.run_id


def wait_any(c: Consumer, run_id: str, kinds: set[str], timeout: float = 120) -> float:
    """When the first event of one of ``kinds`` for ``run_id`` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.05)
        if msg is None or msg.error() is not None:
            continue
        event = decode_event(msg.value() or b"")
        if event.run_id == run_id and type(event).__name__ in kinds:
            return time.monotonic()
    raise TimeoutError(f"none of {sorted(kinds)} for {run_id} within {timeout} s")


def _append(out: KafkaProducer, names: TopicNames, run_id: str) -> tuple[int, int]:
    """Append a RunCreated to sluice.runs; its (partition, offset)."""
    where: list[tuple[int, int]] = []
    event = dataclasses.replace(template()[0], run_id=run_id, occurred_at_ms=now_ms())
    out.produce(
        names.runs,
        key=run_id.encode(),
        value=encode_event(event),
        on_delivery=lambda _err, msg: where.append((msg.partition() or 0, msg.offset() or 0)),
    )
    out.flush(10)
    return where[0]


def triggers_takeover(settings: ServiceSettings, admin: AdminClient) -> float:
    """Kill the trigger processor (faust), restart it, request a run: kill → its RunCreated."""
    prefix = f"btg{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    with tempfile.TemporaryDirectory() as tmp:
        url, sha = one_stage_repository(Path(tmp))
        register_pipeline(settings, pipeline_id="bench", name="bench", repo_url=url, prefix=prefix)
        env = {**os.environ, "SLUICE_TOPIC_PREFIX": prefix, "SLUICE_CACHE_DIR": tmp}

        def start_triggers() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "projections.triggers"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        triggers = start_triggers()
        watch = tail(settings, names.inbox)
        out = producer(settings)
        try:
            first = request_run(
                out,
                pipeline_id="bench",
                branch="b0",
                commit_sha=sha,
                requested_by="bench",
                prefix=prefix,
            )
            wait_for(watch, first.run_id, "RunCreated", timeout=180)
            killed = kill(triggers)
            triggers = start_triggers()
            again = request_run(
                out,
                pipeline_id="bench",
                branch="b1",
                commit_sha=sha,
                requested_by="bench",
                prefix=prefix,
            )
            return wait_for(watch, again.run_id, "RunCreated", timeout=180) - killed
        finally:
            kill(triggers)
            watch.close()
            delete_topics(admin, topics)


def api_takeover() -> float:
    """Kill ``sluice api``, restart it: kill → the first 200 from ``/healthz``."""
    port = free_port()
    sluice = str(Path(sys.executable).parent / "sluice")

    def start_api() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sluice, "api", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    api = start_api()
    try:
        _healthy(port, timeout=60)
        killed = kill(api)
        api = start_api()
        _healthy(port, timeout=60)
        return time.monotonic() - killed
    finally:
        kill(api)


def _healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the API on :{port} was not healthy within {timeout} s")


def raw_round_trip(settings: ServiceSettings, admin: AdminClient) -> float:
    """Median of 20 produce → consume round trips (acks=all) on a topic of its own."""
    prefix = f"btr{uuid.uuid4().hex[:6]}."
    topics = create_topics(admin, prefix)
    names = TopicNames(prefix)
    try:
        watch = tail(settings, names.runs)
        out = producer(settings)
        times = []
        for n in range(20):
            started = time.monotonic()
            event = dataclasses.replace(template()[0], run_id=f"raw{n}")
            out.produce(names.runs, key=b"raw", value=encode_event(event))
            out.flush(10)
            times.append(wait_for(watch, f"raw{n}", "RunCreated") - started)
        watch.close()
        return statistics.median(times)
    finally:
        delete_topics(admin, topics)


def import_floor() -> float:
    """A bare restart's floor: Python starting and importing the API and the processors."""
    started = time.monotonic()
    code = "import orchestrator.api.app, projections.decider, projections.timers"
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - started


def _fold(seconds: float) -> str:
    return "not folded (--fold-max-events)" if seconds < 0 else f"{seconds:.1f} s"


def _deployer_cell(settings: ServiceSettings, admin: AdminClient) -> str:
    step, deployed = deployer_takeover(settings, admin)
    return f"next step {step:.1f} s, deployment succeeded {deployed:.1f} s"


def _runner_cell(settings: ServiceSettings, admin: AdminClient) -> str:
    failed, again = runner_takeover(settings, admin)
    return f"attempt failed by the reaper {failed:.1f} s, next attempt's container {again:.1f} s"


Cell = Callable[[ServiceSettings, AdminClient], str]


def _seconds(measure: Callable[[ServiceSettings, AdminClient], float]) -> Cell:
    return lambda settings, admin: f"{measure(settings, admin):.1f} s"


# process: (what the row measures, how)
PROCESS_ROWS: dict[str, tuple[str, Cell]] = {
    "timers": ("timers (lease due ~1 s after the kill)", _seconds(timers_takeover)),
    "projection": ("projection (PostgreSQL read model)", _seconds(projection_takeover)),
    "api": ("API (`/healthz` answers 200 again)", lambda _s, _a: f"{api_takeover():.1f} s"),
    "triggers": (
        "trigger processor (faust; a request → its RunCreated)",
        _seconds(triggers_takeover),
    ),
    "notifier": ("notifier (a finished run → its webhook received)", _seconds(notifier_takeover)),
    "deployer": (
        "deployer, mid-rollout of 3 instances (real Docker and HAProxy)",
        _deployer_cell,
    ),
    "runner": (
        "runner, alone on its host (a new one started at once; a real container)",
        _runner_cell,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-day", type=int, default=3000)
    parser.add_argument("--days", type=int, nargs="*", default=[3, 30])  # none: no decider rows
    parser.add_argument(
        "--processes", nargs="*", default=list(PROCESS_ROWS), choices=list(PROCESS_ROWS)
    )
    parser.add_argument(
        "--fold-max-events", type=int, default=10_000_000,
        help="a longer history is not folded from offset 0 (its 'before' is left out)",
    )  # fmt: skip
    args = parser.parse_args()
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    raw = raw_round_trip(settings, admin)
    print(f"raw Kafka round trip (acks=all): {raw * 1000:.1f} ms")
    print(f"raw restart floor (python + imports): {import_floor():.1f} s")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    for days in args.days:
        print(f"generating {days} days of history…", file=sys.stderr)
        runs = args.runs_per_day * days
        rows.append(decider_takeover(settings, admin, runs, days, fold=args.fold_max_events))
    for row in rows:
        print(
            f"decider after {row['days']:.0f} days: loaded {row['records']:,.0f} checkpoint "
            f"records and {row['tail']:,.0f} tail events in {row['load_s']:.1f} s"
        )
    print("\n| process killed (-9) | history | kill → work goes on | before (fold from 0) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| decider | {row['days']:.0f} days, {row['runs']:,.0f} runs, "
            f"{row['events']:,.0f} events | {row['takeover_s']:.1f} s "
            f"| {_fold(row['full_fold_s'])} |"
        )
    for name in args.processes:
        label, cell = PROCESS_ROWS[name]
        print(f"| {label} | — | {cell(settings, admin)} | |")
    print(f"raw restart floor (python + imports), again: {import_floor():.1f} s")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
