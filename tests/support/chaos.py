"""The chaos harness: a separate three-broker Kafka cluster (``infra/kafka-chaos``), a Sluice
deployment on it run as an operator runs it (``sluice processors``, ``sluice runner``,
``sluice api`` as processes, a PostgreSQL database of its own), runs fed through the API,
and the checks of what must hold after any failure: every acknowledged run finished, no
stage attempt dispatched or succeeded twice, the read model identical to a replay.

Used by tests/chaos (correctness only) and bench/chaos.py (how long progress stopped).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography.fernet import Fernet
from psycopg import sql

from orchestrator.api.tokens import create_token
from orchestrator.domain import Job, RunDeduplicated, RunEvent
from orchestrator.wire import decode_event, decode_record
from projections.migrate import migrate
from schemas.eventlog import TopicNames, consumer, partitions_of, read_partition
from schemas.settings import ServiceSettings
from schemas.topics import JOB_TOPICS_BY_PRIORITY, topic_configs, with_prefix
from tests.support.leftovers import fresh_topic_prefix
from tests.support.ports import free_port
from tests.support.waiting import eventually
from tests.unit.triggers.gitrepos import GitRepo

__all__ = [
    "CHAOS_BOOTSTRAP",
    "ChaosCluster",
    "ChaosDeployment",
    "Feeder",
    "RunWatch",
    "Verdict",
    "java_partition",
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
CHAOS_BOOTSTRAP = "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
TERMINAL = {"RunSucceeded", "RunFailed", "RunCancelled", "RunRejected"}
PIPELINE = """\
name: chaos
stages:
  build:
    script: ["echo building"]
  test:
    needs: [build]
    script: ["echo testing"]
"""


def java_partition(key: str, partitions: int) -> int:
    """Kafka's partition for a coordinator key: ``Utils.abs(key.hashCode()) % partitions``."""
    h = 0
    for ch in key:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return (0 if signed == -(1 << 31) else abs(signed)) % partitions


class ChaosCluster:
    """The three brokers of ``infra/kafka-chaos``: start, kill -9, restart, who leads what."""

    script = ROOT / "infra" / "kafka-chaos"

    def __init__(self) -> None:
        self.bootstrap = CHAOS_BOOTSTRAP
        self.killed: list[int] = []
        self._admin: AdminClient | None = None

    def _infra(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.script), *args], capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"infra/kafka-chaos {' '.join(args)}: {done.stdout}{done.stderr}")

    def up(self, *, fresh: bool = False) -> None:
        """Start every broker that is not running, and wait until all three serve.

        ``fresh``: stop the cluster and remove its data first (a broker restarted after
        kill -9 recovers every partition it holds: fewer partitions, faster restarts)."""
        if fresh:
            self._infra("reset")
        self._infra("up")
        eventually(lambda: len(self.admin().list_topics(timeout=10).brokers) == 3,
                   timeout=90, what="three chaos brokers")  # fmt: skip
        eventually(self.controller_answers, timeout=120, interval=1, what="the chaos controller")

    def controller_answers(self) -> bool:
        """Whether a topic creation reaches the cluster's controller (validated only).

        Three brokers in the metadata are not enough: a CI run once saw every creation of
        the deployment's topics wait 60 s "for controller" five times over. An admin client
        that cannot reach it is dropped, so the next probe starts from a fresh one."""
        probe = NewTopic(f"sluice-chaos-probe-{uuid.uuid4().hex[:8]}", 1, 3)
        futures = self.admin().create_topics([probe], validate_only=True, request_timeout=15)
        try:
            for future in futures.values():
                future.result()
        except KafkaException as e:
            self.forget_admin()
            raise AssertionError(f"the chaos controller did not answer: {e}") from e
        return True

    def forget_admin(self) -> None:
        """Drop the admin client: the next call builds a fresh one (librdkafka keeps the
        controller it learned; a client that cannot reach it waits on it until timeout)."""
        self._admin = None

    def create_topics(self, topics: list[NewTopic]) -> None:
        """Create ``topics``, asking again while a cluster just started settles (librdkafka
        drops its bootstrap connections once it knows the brokers: _DESTROY_BROKER)."""
        self._settle(
            lambda ts: self.admin().create_topics(ts, request_timeout=30),
            topics,
            settled=KafkaError.TOPIC_ALREADY_EXISTS,
            unsettled=lambda ts: [t for t in ts if t.topic not in self.topic_names()],
            attempts=5,
        )

    def delete_topics(self, topics: list[str]) -> None:
        self._settle(
            lambda ts: self.admin().delete_topics(ts, request_timeout=30),
            topics,
            settled=KafkaError.UNKNOWN_TOPIC_OR_PART,
            unsettled=lambda ts: [t for t in ts if t in self.topic_names()],
            attempts=3,
        )

    def topic_names(self) -> set[str]:
        return set(self.admin().list_topics(timeout=30).topics)

    def _settle(
        self,
        send: Callable[[list[T]], dict[str, Future[None]]],
        items: list[T],
        *,
        settled: int,
        unsettled: Callable[[list[T]], list[T]],
        attempts: int,
    ) -> None:
        """Send an admin request for ``items`` until every one is done: an error ``settled``
        means some were done before (``unsettled`` keeps the rest); any other asks again on
        a fresh admin client."""
        for attempt in range(attempts):
            try:
                for future in send(items).values():
                    future.result()
                return
            except KafkaException as e:
                if e.args[0].code() == settled:
                    items = unsettled(items)
                    if not items:
                        return
                elif attempt == attempts - 1:
                    raise
                else:
                    self.forget_admin()
                time.sleep(1)
        raise RuntimeError(f"chaos cluster: not settled after {attempts} tries: {items}")

    def remove(self) -> None:
        """Kill every broker and remove the cluster's data."""
        # an admin client left alive logs a refused connection per broker each second until
        # the process exits: in CI that buried pytest's summary of what failed
        self.forget_admin()
        self._infra("reset")

    def kill(self, node: int) -> float:
        """SIGKILL one broker; the monotonic time it died."""
        self._infra("kill", str(node))
        self.killed.append(node)
        return time.monotonic()

    def start(self, node: int) -> None:
        self._infra("start", str(node))

    def admin(self) -> AdminClient:
        """One admin client for the cluster (kept: its futures die with it)."""
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return self._admin

    def leaders(self, topic: str) -> dict[int, int]:
        """Partition → the broker that leads it now."""
        meta = self.admin().list_topics(topic, timeout=10).topics[topic]
        return {p: part.leader for p, part in meta.partitions.items()}

    def coordinator(self, internal_topic: str, key: str) -> int:
        """The broker coordinating ``key`` (a transactional id or a group): the leader of its
        partition of ``__transaction_state`` or ``__consumer_offsets``."""
        leaders = self.leaders(internal_topic)
        return leaders[java_partition(key, len(leaders))]

    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None:
        """Wait until every partition of ``topics`` has all three replicas in sync again."""

        def synced() -> bool:
            meta = self.admin().list_topics(timeout=10).topics
            return all(len(p.isrs) == 3 for t in topics for p in meta[t].partitions.values())

        eventually(synced, timeout=timeout, interval=0.5, what="every replica back in sync")


@dataclass
class RunWatch:
    """Follows ``sluice.runs`` from its start: every event by run, and when each arrived."""

    settings: ServiceSettings
    names: TopicNames
    events: dict[str, list[RunEvent]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # a deduplicated request's run id
    arrivals: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="chaos-watch").start()

    def _run(self) -> None:
        # assigned, not subscribed: a group would rebalance when its coordinator dies, and a
        # consumer that commits nothing would read everything again
        c: Consumer = consumer(self.settings, group=f"chaos-watch-{uuid.uuid4().hex}")
        meta = c.list_topics(self.names.runs, timeout=30).topics[self.names.runs]
        c.assign([TopicPartition(self.names.runs, p, 0) for p in meta.partitions])
        seen: set[tuple[int, int]] = set()
        try:
            while not self.stop.is_set():
                msg = c.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                where = (msg.partition() or 0, msg.offset() or 0)
                if where not in seen:
                    seen.add(where)
                    event = decode_event(msg.value() or b"")
                    self.events.setdefault(event.run_id, []).append(event)
                    if isinstance(event, RunDeduplicated) and event.requested_run_id:
                        self.aliases[event.requested_run_id] = event.run_id
                    self.arrivals.append(time.monotonic())
        finally:
            c.close()

    def resolve(self, run_id: str) -> str:
        """The run ``run_id`` is: itself, or the run its request was deduplicated into (an API
        answers 202 with the id it gave a request it could not wait for)."""
        return self.aliases.get(run_id, run_id)

    def resolved(self, run_ids: list[str]) -> list[str]:
        """``run_ids`` resolved, each run once."""
        return list(dict.fromkeys(self.resolve(r) for r in run_ids))

    def names_of(self, run_id: str) -> list[str]:
        return [type(e).__name__ for e in list(self.events.get(self.resolve(run_id), []))]

    def ended(self, run_id: str) -> str | None:
        return next((n for n in reversed(self.names_of(run_id)) if n in TERMINAL), None)

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time between two events (or the window's ends) within [start, end]."""
        inside = [start, *(t for t in list(self.arrivals) if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(inside))


@dataclass
class Verdict:
    """What the log says after the chaos."""

    accepted: int
    unfinished: list[str]
    failed: list[str]
    succeeded_twice: list[tuple[str, str]]
    dispatched_twice: list[tuple[str, str, int]]

    missing: list[str] = field(default_factory=list)
    deduplicated: int = 0  # acknowledged run ids whose request repeated another run

    @property
    def lost(self) -> int:
        """Acknowledged runs the log never shows: the trigger itself was lost."""
        return len(self.missing)

    @property
    def stuck(self) -> int:
        """Runs the log shows but that did not end while the caller waited."""
        return len(self.unfinished) - len(self.missing)

    @property
    def doubled(self) -> int:
        return len(self.succeeded_twice) + len(self.dispatched_twice)


@dataclass
class ChaosDeployment:
    """Sluice on the chaos cluster: its topics (replication 3, ``min.insync.replicas=2``),
    its own database, and its processes, each of which can be killed and started again."""

    cluster: ChaosCluster
    tmp: Path
    prefix: str = field(default_factory=lambda: fresh_topic_prefix("c"))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    exits: list[tuple[str, int]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    runner_args: tuple[str, ...] = ("--slots", "3")

    def __post_init__(self) -> None:
        self.names = TopicNames(self.prefix)
        self.database = f"chaos_{uuid.uuid4().hex[:10]}"
        base = ServiceSettings.from_env()
        self.admin_dsn = base.pg_dsn
        self.settings = replace(
            base,
            kafka_bootstrap=self.cluster.bootstrap,
            topic_prefix=self.prefix,
            pg_dsn=_with_database(base.pg_dsn, self.database),
        )
        self.port = free_port()
        self.decider_txn_id = f"{self.prefix}sluice-decider-chaos"
        self.repo = GitRepo(self.tmp / "repo")
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "SLUICE_PG_SCHEMA"},  # its own database
            "SLUICE_KAFKA_BOOTSTRAP": self.cluster.bootstrap,
            "SLUICE_TOPIC_PREFIX": self.prefix,
            "SLUICE_PG_DSN": self.settings.pg_dsn,
            "SLUICE_STATE_DIR": str(self.tmp / "state"),
            "SLUICE_CACHE_DIR": str(self.tmp / "cache"),
            "SLUICE_SECRETS_KEY": Fernet.generate_key().decode(),
            "SLUICE_WARM_IMAGES": "-1",
            "SLUICE_API_RATE": "1000",
            "SLUICE_API_BURST": "1000",
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- setting up and tearing down

    def create(self) -> None:
        """Topics on the chaos cluster and a migrated database of its own."""
        topics = [
            NewTopic(t.name, t.partitions, 3, config=topic_configs(t, replication=3))
            for t in with_prefix(self.prefix)
        ]
        self.cluster.create_topics(topics)
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        with psycopg.connect(self.settings.pg_dsn, autocommit=True) as conn:
            migrate(conn)
            self.token = create_token(conn, name="chaos", scopes=["admin"]).secret

    def topics(self) -> list[str]:
        return [t.name for t in with_prefix(self.prefix)]

    def destroy(self) -> None:
        """Stop every process, drop the database and the topics."""
        self.stopping.set()
        for name in list(self.processes):
            self.stop(name)
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.database)
                )
            )
        self.cluster.delete_topics(self.topics())

    # --- processes

    def _argv(self, name: str) -> list[str]:
        sluice = str(Path(sys.executable).parent / "sluice")
        common = ["--prefix", self.prefix, "--metrics-port", "0"]
        if name == "processors":
            return [sluice, "processors", "--worker-id", "chaos", *common]
        if name == "runner":  # a new id each start: a restarted runner cleans up the dead one
            runner_id = f"chaos-runner-{self.restarts[name]}"
            return [sluice, "runner", "--runner-id", runner_id, *self.runner_args, *common]
        return [sluice, "api", "--port", str(self.port)]

    def start(self, name: str) -> None:
        """Start ``processors``, ``runner`` or ``api`` (output in ``tmp/<name>.log``)."""
        with (self.tmp / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                self._argv(name), env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.restarts[name] += 1

    def kill(self, name: str) -> float:
        """SIGKILL ``name``; the monotonic time it died."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        return time.monotonic()

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def supervise(self, stop: threading.Event) -> None:
        """Start again any process that exited on its own, as systemd's Restart=always does
        (the decider exits when librdkafka leaves a transaction stuck: docs/recovery.md)."""
        while not stop.wait(0.5):
            for name, process in list(self.processes.items()):
                if process.poll() is not None and self.processes.get(name) is process:
                    self.exits.append((name, process.returncode or 0))
                    self.start(name)

    def start_all(self) -> None:
        for name in ("processors", "runner", "api"):
            self.start(name)
        threading.Thread(target=self.supervise, args=(self.stopping,), daemon=True).start()
        eventually(self._healthy, timeout=90, interval=0.3, what="the chaos API")
        self.pipeline_id = self.register()

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def register(self) -> str:
        sha = self.repo.commit({"pipeline.yaml": PIPELINE})
        pid = f"p-{uuid.uuid4().hex[:8]}"
        body = {"pipeline_id": pid, "name": pid, "repo_url": self.repo.url}
        with self.client() as http:
            eventually(
                lambda: http.post("/pipelines", json=body).status_code in (201, 409),
                timeout=90,
                interval=0.5,
                what="the pipeline to be registered",
            )
        self.first_sha = sha
        return pid

    def commits(self, count: int) -> list[str]:
        """``count`` new commits of the pipeline's repository (one run each, no dedup)."""
        return [
            self.repo.commit({"pipeline.yaml": PIPELINE, "n.txt": f"{uuid.uuid4().hex}\n"})
            for _ in range(count)
        ]

    # --- checks

    def _messages(self, topic: str) -> Iterator[Message]:
        """Every committed message of ``topic``, partition by partition, read afresh."""
        meta = self.cluster.admin().list_topics(topic, timeout=30).topics[topic]
        for partition in meta.partitions:
            yield from read_partition(self.settings, topic, partition)

    def jobs(self) -> list[Job]:
        """Every job dispatched to a runner, read from the job topics."""
        found = []
        for priority in JOB_TOPICS_BY_PRIORITY:
            for msg in self._messages(self.names.job(priority)):
                record = decode_record(msg.value() or b"")
                if isinstance(record, Job):
                    found.append(record)
        return found

    def verdict(self, watch: RunWatch, acknowledged: list[str]) -> Verdict:
        accepted = watch.resolved(acknowledged)
        unfinished = [r for r in accepted if watch.ended(r) is None]
        missing = [r for r in unfinished if not watch.names_of(r)]
        failed = [r for r in accepted if watch.ended(r) not in (None, "RunSucceeded")]
        succeeded = Counter(
            (e.run_id, getattr(e, "stage", ""))
            for r in accepted
            for e in watch.events.get(r, [])
            if type(e).__name__ == "StageSucceeded"
        )
        dispatched = Counter((j.run_id, j.stage.name, j.attempt) for j in self.jobs())
        return Verdict(
            accepted=len(acknowledged),
            deduplicated=sum(watch.resolve(r) != r for r in acknowledged),
            unfinished=unfinished,
            failed=failed,
            succeeded_twice=[k for k, n in succeeded.items() if n > 1],
            dispatched_twice=[k for k, n in dispatched.items() if n > 1],
            missing=missing,
        )

    def diagnosis(self, open_runs: list[str], lines: int = 40) -> str:
        """What a failed chaos test needs to be understood from CI's output alone: the open
        runs' events as a fresh reader sees the log now (a stuck watch or a stuck decider?),
        the processes that exited, and the end of each process's own log."""
        seen: dict[str, list[str]] = {r: [] for r in open_runs}
        for msg in self._messages(self.names.runs):
            event = decode_event(msg.value() or b"")
            if event.run_id in seen:
                seen[event.run_id].append(type(event).__name__)
        parts = [f"the log read afresh: {seen}", f"exits: {self.exits}"]
        parts += self._trail(open_runs)
        parts.append(f"partitions with a transaction open: {self.open_transactions()}")
        for name, process in self.processes.items():  # where each live process is now
            dump = subprocess.run(
                [str(Path(sys.executable).parent / "py-spy"), "dump", "--pid", str(process.pid)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            parts.append(f"--- py-spy dump of {name}\n{dump.stdout}{dump.stderr}")
        for name in ("processors", "runner", "api"):
            log = (self.tmp / f"{name}.log").read_text(errors="replace").splitlines()
            ours = [line for line in log if not line.startswith("%")]  # librdkafka's own
            parts.append(f"--- {name}.log, last {lines} lines\n" + "\n".join(ours[-lines:]))
        return "\n".join(parts)

    def _trail(self, open_runs: list[str]) -> list[str]:
        """Where each open run's request and answers are on ``sluice.triggers`` and
        ``sluice.inbox`` (with every other request for the same commit, and the answers to
        those), beside the offsets the trigger processor's and the decider's groups have
        committed there: a trigger committed past without an answer on the inbox was lost by
        the processor; an answer committed past without a run, by the decider."""
        requests = self._records(self.names.triggers, f"{self.prefix}sluice-triggers")
        shas = {getattr(r, "commit_sha", None) for _, r, _ in requests if r.run_id in open_runs}
        related = [(w, r, c) for w, r, c in requests if getattr(r, "commit_sha", None) in shas]
        runs = {r.run_id for _, r, _ in related} | set(open_runs)
        asked = {getattr(r, "request_id", None) for _, r, _ in related}
        answers = [
            (w, r, c)
            for w, r, c in self._records(self.names.inbox, f"{self.prefix}sluice-decider")
            if r.run_id in runs or getattr(r, "request_id", None) in asked
        ]
        lines = [
            f"{where}: {type(r).__name__} run {r.run_id} request"
            f" {getattr(r, 'request_id', '-')} commit {getattr(r, 'commit_sha', '-')}; {committed}"
            for where, r, committed in [*related, *answers]
        ]
        return lines or ["no record of the open runs on the triggers or the inbox"]

    def open_transactions(self) -> dict[str, tuple[int, int]]:
        """Partitions of the decider's output topics whose last stable offset is behind their
        high watermark (``topic[p]: (stable, high)``): a transaction still open there holds
        every later record from read_committed readers (a runner waiting for its notices)."""
        stable: Consumer = consumer(self.settings, group=f"{self.prefix}diagnosis")
        high: Consumer = consumer(
            self.settings,
            group=f"{self.prefix}diagnosis",
            **{"isolation.level": "read_uncommitted"},
        )
        found = {}
        try:
            for topic in (
                self.names.runs,
                self.names.inbox,
                self.names.runner_notices,
                *self.names.jobs,
            ):
                for p in partitions_of(stable, topic):
                    tp = TopicPartition(topic, p)
                    lso = stable.get_watermark_offsets(tp, timeout=10, cached=False)[1]
                    hw = high.get_watermark_offsets(tp, timeout=10, cached=False)[1]
                    if lso != hw:
                        found[f"{topic}[{p}]"] = (lso, hw)
        finally:
            stable.close()
            high.close()
        return found

    def _records(self, topic: str, group: str) -> list[tuple[str, Any, str]]:
        """Every record of ``topic`` that names a run, where it is, and what ``group`` has
        committed on its partition."""
        meta = self.cluster.admin().list_topics(topic, timeout=30).topics[topic]
        c: Consumer = consumer(self.settings, group=group)
        try:
            tps = [TopicPartition(topic, p) for p in meta.partitions]
            committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=30)}
        finally:
            c.close()
        found = []
        for msg in self._messages(topic):
            try:
                record = decode_record(msg.value() or b"")
            except Exception:  # a diagnosis skips what it cannot read
                continue
            if hasattr(record, "run_id"):
                partition = msg.partition() or 0
                where = f"{topic}[{partition}]@{msg.offset()}"
                found.append((where, record, f"{group} at {committed.get(partition)}"))
        return found

    def replay_verify(self) -> subprocess.CompletedProcess[str]:
        """``sluice replay --verify`` against the live read model."""
        sluice = str(Path(sys.executable).parent / "sluice")
        return subprocess.run(
            [sluice, "replay", "--verify", "--prefix", self.prefix],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def wait_read_model(self, accepted: list[str], timeout: float = 120) -> None:
        """Wait until the read model shows every run of ``accepted`` (distinct ids, as
        :meth:`RunWatch.resolved` gives them) succeeded."""

        def shown() -> bool:
            with psycopg.connect(self.settings.pg_dsn) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pipeline_runs"
                    " WHERE run_id = ANY(%s) AND status = 'success'",
                    (accepted,),
                ).fetchone()
            return row is not None and row[0] == len(accepted)

        eventually(shown, timeout=timeout, interval=0.5, what="the read model to catch up")


@dataclass
class Feeder:
    """Triggers runs through the API at a steady pace; keeps the ids of the acknowledged ones."""

    deployment: ChaosDeployment
    shas: list[str]
    pace_s: float = 0.5
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # status and detail of each refusal
    lost: list[str] = field(default_factory=list)  # attempts with no answer, then retried
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._feed, daemon=True, name="chaos-feeder")
        self.thread.start()

    def _feed(self) -> None:
        with self.deployment.client() as http:
            for sha in self.shas:
                self._trigger(http, sha)
                time.sleep(self.pace_s)

    def _trigger(self, http: httpx.Client, sha: str) -> None:
        path = f"/pipelines/{self.deployment.pipeline_id}/runs"
        for _ in range(60):  # an API being restarted refuses connections for a moment
            try:
                answer = http.post(path, json={"branch": "main", "commit_sha": sha})
            except httpx.HTTPError as e:
                self.lost.append(f"{sha[:12]}: {type(e).__name__} {e}")
                time.sleep(0.5)
                continue
            if answer.status_code in (200, 201, 202):
                # 200: an earlier attempt whose answer was lost got in; this is its run
                run_id = answer.json()["run_id"]
                if run_id not in self.accepted:
                    self.accepted.append(run_id)
                return
            # not acknowledged: not owed a run
            self.refused.append(f"{sha[:12]}: {answer.status_code} {answer.text[:300]}")
            time.sleep(0.5)

    def join(self, timeout: float = 600) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def _with_database(dsn: str, database: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{database}"


def coordinators(deployment: ChaosDeployment) -> Iterator[tuple[str, int]]:
    """The brokers coordinating the decider's transactions and its consumer group."""
    cluster = deployment.cluster
    yield "transactions", cluster.coordinator("__transaction_state", deployment.decider_txn_id)
    yield "group", cluster.coordinator("__consumer_offsets", f"{deployment.prefix}sluice-decider")
