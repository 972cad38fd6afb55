"""Replay speed of ``sluice.runs`` into the PostgreSQL read model, beside its raw floors.

Writes N events of realistic runs (a six-stage DAG: build, unit, lint, integration,
package, deploy; most succeed, some fail with a skipped dependent, some are cancelled) to
a topic of its own, then measures in the same run:

* raw Kafka read: every message consumed, nothing decoded;
* raw batched COPY: N rows of the width of a stage row COPYed in batches of the replay's;
* replay: ``projections.replay.rebuild`` from offset 0 into a fresh schema (decode, fold,
  COPY + upsert, offsets in the same transaction);

and prints events/s with the ratios. Goal: replay >= 20,000 events/s.

    .venv/bin/python bench/replay.py [--events 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from orchestrator.domain import events as ev
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import FailureClass, Priority, TriggerSource
from orchestrator.wire import encode_event
from projections.replay import rebuild
from schemas.eventlog import TopicNames, consumer, producer, take_batch
from schemas.settings import ServiceSettings
from schemas.topics import PIPELINES, RUNS

T0 = 1_767_225_600_000
BATCH = 10_000
DAG = (
    StageSpec(name="build", script=("make build",)),
    StageSpec(name="unit", needs=("build",), script=("make test",)),
    StageSpec(name="lint", needs=("build",), script=("make lint",)),
    StageSpec(name="integration", needs=("unit", "lint"), script=("make it",)),
    StageSpec(name="package", needs=("integration",), script=("make package",)),
    StageSpec(name="deploy", needs=("package",), script=("make deploy",)),
)


def run_history(run_id: str, kind: int) -> list[ev.RunEvent]:
    """One run's events: kind 0-7 succeed, 8 fails at integration, 9 is cancelled."""
    out: list[ev.RunEvent] = []

    def add(cls: type[ev.RunEvent], **fields: object) -> None:
        out.append(cls(run_id=run_id, occurred_at_ms=T0 + 1000 * len(out), **fields))  # type: ignore[arg-type]

    def run_stage(name: str, fail: bool = False) -> None:
        add(ev.StageQueued, stage=name, attempt=1, priority=Priority.NORMAL, lease_ms=60_000)
        add(ev.StageClaimed, stage=name, attempt=1, runner_id="r1", lease_deadline_ms=T0 * 2)
        if name == "build":
            add(ev.RunStarted)
        add(ev.StageHeartbeat, stage=name, attempt=1, runner_id="r1", lease_deadline_ms=T0 * 2)
        if fail:
            add(
                ev.StageFailed,
                stage=name,
                attempt=1,
                runner_id="r1",
                exit_code=1,
                failure_class=FailureClass.DETERMINISTIC,
                reason="exit code 1",
            )
        else:
            add(ev.StageSucceeded, stage=name, attempt=1, runner_id="r1", duration_ms=4200)
        add(
            ev.LogArchived,
            stage=name,
            attempt=1,
            storage_path=f"logs/{run_id}/{name}/1",
            size_bytes=4096,
            lines=80,
        )

    add(
        ev.RunCreated,
        pipeline_id="backend-api",
        pipeline_name="backend-api-ci",
        branch="main",
        commit_sha="0123456789abcdef0123456789abcdef01234567",
        repo_url="file:///srv/api.git",
        source=TriggerSource.WEBHOOK,
        priority=Priority.NORMAL,
        dedup_key=run_id,
        stages=DAG,
    )
    if kind == 9:
        run_stage("build")
        add(ev.RunCancelRequested, requested_by="alice", reason="superseded")
        for name in ("unit", "lint", "integration", "package", "deploy"):
            add(ev.StageCancelled, stage=name, attempt=1, reason="run cancelled")
        add(ev.RunCancelled, reason="superseded")
        return out
    for name in ("build", "unit", "lint"):
        run_stage(name)
    add(
        ev.ArtifactStored,
        stage="build",
        attempt=1,
        artifact_id=f"{run_id}/dist",
        name="dist",
        size_bytes=1 << 20,
        sha256="ab" * 32,
        storage_path=f"artifacts/{run_id}/dist",
        expires_at_ms=T0 + 30 * 86_400_000,
    )
    run_stage("integration", fail=kind == 8)
    if kind == 8:
        for name in ("package", "deploy"):
            add(ev.StageSkipped, stage=name, reason="integration failed")
        add(ev.RunFailed, reason="integration failed", failed_stages=("integration",))
        return out
    run_stage("package")
    run_stage("deploy")
    add(ev.RunSucceeded)
    return out


def histories(count: int) -> Iterator[ev.RunEvent]:
    """At least ``count`` events of whole runs."""
    made, i = 0, 0
    while made < count:
        for event in run_history(f"run-{i:07d}-{uuid.uuid4().hex[:8]}", i % 10):
            made += 1
            yield event
        i += 1


def write_log(settings: ServiceSettings, topic: str, count: int) -> int:
    """Produce the events; returns how many were written."""
    tuning: dict[str, Any] = {"linger.ms": 20, "batch.num.messages": 10_000}
    p = producer(settings, **tuning)
    written = 0
    for event in histories(count):
        while True:
            try:
                p.produce(topic, key=event.run_id.encode(), value=encode_event(event))
                break
            except BufferError:
                p.poll(0.1)
        written += 1
    p.flush(120)
    return written


def raw_kafka_read(settings: ServiceSettings, topic: str, partitions: int, total: int) -> float:
    """Messages/s of a bare consumer reading the whole topic (nothing decoded)."""
    c = consumer(settings, group=f"bench-raw-{uuid.uuid4().hex[:6]}")
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    began, seen = time.monotonic(), 0
    while seen < total:
        for msg in take_batch(c, BATCH, timeout=1.0):
            error = msg.error()
            if error is None:
                seen += 1
            elif error.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(str(error))
    c.close()
    return seen / (time.monotonic() - began)


def raw_copy(dsn: str, rows: int) -> float:
    """Rows/s of a batched COPY of stage-shaped rows into a fresh table."""
    at = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TEMP TABLE raw_floor (run_id text, name text, position int, status text,"
            " attempt int, needs text[], runner_id text, queued_at timestamptz)"
        )
        began = time.monotonic()
        for start in range(0, rows, BATCH):
            with conn.transaction(), conn.cursor().copy("COPY raw_floor FROM STDIN") as copy:
                for i in range(start, min(rows, start + BATCH)):
                    copy.write_row(
                        (f"run-{i // 6}", f"s{i % 6}", i % 6, "success", 1, ["a"], "r1", at)
                    )
        return rows / (time.monotonic() - began)


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    count = parser.parse_args().events
    settings = ServiceSettings.from_env()
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    names = TopicNames(prefix)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    made = [
        NewTopic(names.runs, RUNS.partitions, 1),
        NewTopic(names.pipelines, PIPELINES.partitions, 1),
    ]
    for future in admin.create_topics(made).values():
        future.result()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        began = time.monotonic()
        written = write_log(settings, names.runs, count)
        print(f"wrote {written} events in {time.monotonic() - began:.1f} s")
        kafka = raw_kafka_read(settings, names.runs, RUNS.partitions, written)
        copy = raw_copy(settings.pg_dsn, written)
        stats = rebuild(settings, schema=schema, prefix=prefix)
        replay = stats.messages / stats.seconds
        print(f"raw Kafka read     {kafka:>10,.0f} events/s")
        print(f"raw batched COPY   {copy:>10,.0f} rows/s")
        took = f"({stats.messages} events in {stats.seconds:.2f} s)"
        print(f"replay into PG     {replay:>10,.0f} events/s  {took}")
        print(f"replay / raw COPY  {replay / copy:>10.2f}")
        print(f"replay / raw Kafka {replay / kafka:>10.2f}")
        print(f"goal >= 20,000 events/s: {'met' if replay >= 20_000 else 'NOT met'}")
    finally:
        with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        for future in admin.delete_topics([t.topic for t in made]).values():
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
