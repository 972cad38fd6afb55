"""``sluice replay``: a rebuild from offset 0 equals the live read model, row for row."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from orchestrator.cli import replay as replay_cli
from projections.replay import rebuild, verify
from tests.integration.projection.conftest import Log, Worker
from tests.integration.projection.scenarios import SCENARIOS

PG = psycopg.Connection[tuple[object, ...]]


def _sluice_replay(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sluice")
    replay_cli.register(parser.add_subparsers())
    args = parser.parse_args(["replay", *argv])
    result: int = args.func(args)
    return result


def _project_every_scenario(log: Log, start: Callable[[], Worker], pg: PG) -> None:
    log.publish([e for make in SCENARIOS.values() for e in make(f"run-{uuid.uuid4().hex}")])
    start()
    log.wait_applied(pg)
    pg.commit()


def test_verify_finds_the_replay_identical_to_a_projected_log(
    log: Log,
    start_projector: Callable[[], Worker],
    pg: PG,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _project_every_scenario(log, start_projector, pg)
    code = _sluice_replay("--verify", "--schema", pg_schema, "--prefix", log.prefix)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pipeline_runs: 6 live, 6 replayed, identical" in out
    assert "stages: 25 live, 25 replayed, identical" in out


def test_verify_finds_the_replay_identical_after_a_thousand_runs(
    log: Log,
    start_projector: Callable[[], Worker],
    pg: PG,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    makers = list(SCENARIOS.values())
    log.publish([e for i in range(1000) for e in makers[i % len(makers)](f"run-{i:04d}")])
    start_projector()
    log.wait_applied(pg)
    pg.commit()
    code = _sluice_replay("--verify", "--schema", pg_schema, "--prefix", log.prefix)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pipeline_runs: 1000 live, 1000 replayed, identical" in out


def test_verify_replays_only_up_to_the_offsets_the_live_projection_committed(
    log: Log,
    start_projector: Callable[[], Worker],
    pg: PG,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    events = SCENARIOS["diamond_success"](run_id)
    log.publish(events[:10])
    worker = start_projector()
    log.wait_applied(pg)
    worker.halt()
    pg.commit()
    log.publish(events[10:])  # in the log, not yet in the live read model
    code = _sluice_replay("--verify", "--schema", pg_schema, "--prefix", log.prefix)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "live projection committed 10 offsets over 1 partitions" in out


def test_verify_reports_a_tampered_live_row_and_exits_1(
    log: Log,
    start_projector: Callable[[], Worker],
    pg: PG,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _project_every_scenario(log, start_projector, pg)
    pg.execute("UPDATE stages SET status = 'running' WHERE name = 'lint'")
    pg.commit()
    code = _sluice_replay("--verify", "--schema", pg_schema, "--prefix", log.prefix)
    out = capsys.readouterr().out
    assert code == 1
    assert "stages: 25 live, 25 replayed, DIFFERENT" in out
    assert "only live: run_id=" in out and "status='running'" in out


def _schema_exists(pg: PG, name: str) -> bool:
    found = pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
    return found is not None


@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept"])
def test_verify_drops_its_scratch_schema_unless_kept(
    log: Log, start_projector: Callable[[], Worker], pg: PG, pg_schema: str, keep: bool
) -> None:
    _project_every_scenario(log, start_projector, pg)
    scratch = f"{pg_schema}_scratch"
    try:
        report = verify(
            log.settings,
            live_schema=pg_schema,
            prefix=log.prefix,
            scratch_schema=scratch,
            keep=keep,
        )
        assert report.identical
        assert _schema_exists(pg, scratch) is keep
    finally:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(scratch)))
        pg.commit()


def test_rebuild_into_a_schema_reads_the_whole_log(log: Log, pg_conninfo: str, unique: str) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    events = SCENARIOS["failing_unit"](run_id)
    log.publish(events)
    schema = f"r_{unique}"
    try:
        stats = rebuild(log.settings, schema=schema, prefix=log.prefix)
        with psycopg.connect(pg_conninfo) as conn:
            query = sql.SQL("SELECT status FROM {}.pipeline_runs").format(sql.Identifier(schema))
            assert conn.execute(query).fetchall() == [("failed",)]
        assert stats.applied == len(events)
    finally:
        with psycopg.connect(pg_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM artifacts WHERE expires_at <= now()",
        "UPDATE artifacts SET size_bytes = 1 WHERE expires_at <= now()",
    ],
    ids=["deleted", "changed"],
)
def test_verify_compares_expired_artifacts_too_and_exits_1_when_one_was_tampered_with(
    log: Log,
    start_projector: Callable[[], Worker],
    pg: PG,
    pg_schema: str,
    capsys: pytest.CaptureFixture[str],
    *,
    tamper: str,
) -> None:
    _project_every_scenario(log, start_projector, pg)
    touched = pg.execute(tamper).rowcount
    pg.commit()
    assert touched > 0, "the scenarios hold an artifact that expired long ago"
    code = _sluice_replay("--verify", "--schema", pg_schema, "--prefix", log.prefix)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "artifacts: " in out and "DIFFERENT" in out
