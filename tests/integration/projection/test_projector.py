"""The projector on real Kafka and PostgreSQL: rows per scenario, exactly once, wait_until."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import psycopg
import pytest

from orchestrator.domain.records import PipelineRegistered
from orchestrator.domain.statuses import Priority
from projections.projector import READ_MODEL
from projections.runner import Event, Projection, ProjectionLagging, apply_batch, wait_until
from schemas.eventlog import read_partition
from tests.integration.projection.conftest import Log, Worker
from tests.integration.projection.scenarios import T0, cancelled, diamond_success, failing_unit
from tests.support.waiting import eventually

PG = psycopg.Connection[tuple[object, ...]]


def _run(pg: PG, run_id: str) -> tuple[object, ...]:
    row = pg.execute(
        "SELECT status, reason, started_at IS NOT NULL, finished_at IS NOT NULL"
        " FROM pipeline_runs WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    assert row is not None, f"no row for run {run_id}"
    return row


def _stages(pg: PG, run_id: str) -> dict[str, tuple[object, ...]]:
    rows = pg.execute(
        "SELECT name, status, attempt, reason FROM stages WHERE run_id = %s ORDER BY position",
        (run_id,),
    ).fetchall()
    return {str(r[0]): r[1:] for r in rows}


def _everything(pg: PG) -> list[list[tuple[object, ...]]]:
    tables = ("pipelines", "pipeline_runs", "stages", "artifacts", "projection_offsets")
    return [pg.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables]


def test_a_diamond_run_that_succeeds_is_projected_with_its_artifact_and_log(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    log.publish(diamond_success(run_id))
    start_projector()
    log.wait_applied(pg)
    assert _run(pg, run_id) == ("success", None, True, True)
    assert set(_stages(pg, run_id).values()) == {("success", 1, None)}
    artifact = pg.execute(
        "SELECT stage, name, size_bytes FROM artifacts WHERE run_id = %s", (run_id,)
    )
    assert artifact.fetchall() == [("build", "dist", 1234)]
    log_path = pg.execute("SELECT log_path FROM stages WHERE name = 'integration'").fetchone()
    assert log_path == ("logs/i.log",)


def test_a_registered_pipeline_gets_its_row(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    record = PipelineRegistered(
        pipeline_id="backend-api",
        name="backend-api-ci",
        repo_url="file:///srv/git/backend-api.git",
        config_path="ci/pipeline.yaml",
        default_branch="main",
        priority=Priority.HIGH,
        occurred_at_ms=T0,
    )
    log.publish_pipeline("backend-api", record)
    start_projector()
    probe = "SELECT name, config_path, priority, deleted_at FROM pipelines"
    row = eventually(lambda: pg.execute(probe).fetchone(), what="the pipeline row")
    assert row == ("backend-api-ci", "ci/pipeline.yaml", "high", None)


def test_a_failing_stage_fails_the_run_and_its_dependent_is_skipped(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    log.publish(failing_unit(run_id))
    start_projector()
    log.wait_applied(pg)
    assert _run(pg, run_id) == ("failed", "unit failed", True, True)
    assert _stages(pg, run_id) == {
        "build": ("success", 1, None),
        "unit": ("failed", 1, "exit code 2"),
        "lint": ("success", 1, None),
        "integration": ("skipped", 0, "unit failed"),
    }


def test_a_cancelled_run_and_each_of_its_stages_are_cancelled(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    log.publish(cancelled(run_id))
    start_projector()
    log.wait_applied(pg)
    assert _run(pg, run_id) == ("cancelled", "wrong branch", True, True)
    assert {s[0] for s in _stages(pg, run_id).values()} == {"cancelled"}


def test_redelivering_applied_offsets_changes_nothing(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    [(partition, _), *_] = log.publish(diamond_success(run_id))
    start_projector()
    log.wait_applied(pg)
    before = _everything(pg)
    messages = list(read_partition(log.settings, log.runs, partition))
    result = apply_batch(pg, READ_MODEL, messages)
    assert (result.applied, result.duplicates) == (0, len(messages))
    assert _everything(pg) == before


def test_a_worker_started_after_another_stopped_neither_loses_nor_doubles(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    events = diamond_success(run_id)
    log.publish(events[:7])
    first = start_projector()
    log.wait_applied(pg)
    first.halt()
    log.publish(events[7:])
    second = start_projector()
    log.wait_applied(pg)
    assert first.projector.applied + second.projector.applied == len(events)
    assert _run(pg, run_id)[0] == "success"
    assert pg.execute("SELECT count(*) FROM artifacts").fetchone() == (1,)


def test_a_worker_whose_database_connection_is_killed_reconnects_and_loses_nothing(
    log: Log, start_projector: Callable[[], Worker], pg: PG, pg_schema: str
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    events = diamond_success(run_id)
    log.publish(events[:7])
    worker = start_projector()
    log.wait_applied(pg)
    killed = pg.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"sluice-projection {pg_schema}",),
    ).fetchall()
    assert killed == [(True,)]
    log.publish(events[7:])
    log.wait_applied(pg)
    assert (worker.projector.reconnects, worker.projector.applied) == (1, len(events))
    assert _run(pg, run_id)[0] == "success"


def test_two_workers_sharing_the_partitions_apply_each_event_once(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    histories = [diamond_success(f"run-{i:03d}-{uuid.uuid4().hex[:6]}") for i in range(200)]
    first = start_projector()
    log.publish([e for h in histories[:100] for e in h])
    second = start_projector()  # partitions move to it while the first may be mid-batch
    eventually(lambda: second.projector.assigned, what="partitions for the second worker")
    log.publish([e for h in histories[100:] for e in h])
    log.wait_applied(pg)

    def counted() -> bool:  # a worker counts a batch just after its transaction commits
        assert first.projector.applied + second.projector.applied == sum(map(len, histories))
        return True

    eventually(counted, timeout=5, what="each event counted by exactly one worker")
    assert first.projector.applied > 0 and second.projector.applied > 0
    assert pg.execute("SELECT status, count(*) FROM pipeline_runs GROUP BY 1").fetchall() == [
        ("success", 200)
    ]


def test_a_malformed_message_is_skipped_and_counted_and_later_events_applied(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    events = failing_unit(run_id)
    log.publish(events[:3])
    log.publish_raw(run_id, b"\xc3\x01 not an event")
    log.publish(events[3:])
    worker = start_projector()
    log.wait_applied(pg)
    assert worker.projector.malformed == 1
    assert worker.projector.applied == len(events)
    assert _run(pg, run_id)[0] == "failed"


def test_records_a_projection_does_not_take_are_skipped_uncounted_as_malformed(
    log: Log, pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    [(partition, _), *_] = log.publish(diamond_success(run_id))
    handed: list[str] = []

    def write(_: object, events: Sequence[Event]) -> None:
        handed.extend(type(e.record).__name__ for e in events)

    only_created = Projection(
        name="only_created", topics=(log.runs,), handler=write, records=frozenset({"RunCreated"})
    )
    messages = list(read_partition(log.settings, log.runs, partition))
    result = apply_batch(pg, only_created, messages)
    assert handed == ["RunCreated"]
    assert (result.applied, result.malformed, result.ignored) == (1, 0, len(messages) - 1)


def test_wait_until_returns_only_once_the_offset_is_applied(
    log: Log, start_projector: Callable[[], Worker], pg: PG
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    *_, (partition, offset) = log.publish(cancelled(run_id))
    with pytest.raises(ProjectionLagging):
        wait_until(pg, READ_MODEL.name, log.runs, partition, offset, timeout=0.3)
    assert pg.execute("SELECT count(*) FROM pipeline_runs").fetchone() == (0,)
    start_projector()
    wait_until(pg, READ_MODEL.name, log.runs, partition, offset, timeout=20)
    assert _run(pg, run_id)[0] == "cancelled"
