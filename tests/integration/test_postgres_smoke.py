"""PostgreSQL works for real, with Sluice's migrations applied."""

from __future__ import annotations

import psycopg
from psycopg import sql

from projections.migrate import migrate, migrations


def test_every_migration_is_recorded_in_the_version_table(pg: psycopg.Connection) -> None:
    versions = [row[0] for row in pg.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in migrations()]
    assert versions, "at least one migration ships with Sluice"


def test_migrating_twice_applies_nothing_the_second_time(pg_conninfo: str, unique: str) -> None:
    schema = f"m_{unique}"
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        try:
            first = migrate(conn, schema=schema)
            second = migrate(conn, schema=schema)
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    assert first == [m.version for m in migrations()]
    assert second == []


def test_a_run_row_round_trips_through_the_read_model(pg: psycopg.Connection) -> None:
    pg.execute(
        "INSERT INTO pipeline_runs (run_id, pipeline_id, branch, commit_sha, source, priority,"
        " status, created_at) VALUES ('r1', 'p1', 'main', 'abc', 'api', 'high', 'queued', now())"
    )
    pg.commit()
    row = pg.execute("SELECT status, priority FROM pipeline_runs WHERE run_id = 'r1'").fetchone()
    assert row == ("queued", "high")
