"""The connection pool every API request borrows from (schemas.pg.Pool), on the real PostgreSQL:
a connection idle long enough is checked before it is lent, a fresh one is lent at once."""

from __future__ import annotations

import psycopg
import pytest

from schemas.pg import DatabaseUnavailable, Pool


def _backend(pool: Pool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _terminate(pg_conninfo: str, pid: int) -> None:
    with psycopg.connect(pg_conninfo, autocommit=True) as admin:
        # waits (up to 5 s) until the backend has exited
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_a_connection_killed_while_idle_past_the_fresh_window_is_never_lent(
    pg_conninfo: str,
) -> None:
    pool = Pool(pg_conninfo, schema="public", size=1, fresh_s=0.0)
    try:
        killed = _backend(pool)
        _terminate(pg_conninfo, killed)
        assert _backend(pool) != killed  # checked, found dead, replaced: the request works
    finally:
        pool.close()


def test_a_connection_returned_within_the_fresh_window_is_lent_again_without_a_check(
    pg_conninfo: str,
) -> None:
    pool = Pool(pg_conninfo, schema="public", size=1, fresh_s=60.0)
    try:
        first = _backend(pool)
        assert _backend(pool) == first
        # the price of skipping the check: a connection killed within the window fails the
        # one unit of work it is lent to, as a Sluice error; the pool then replaces it
        _terminate(pg_conninfo, first)
        with pytest.raises(DatabaseUnavailable):
            _backend(pool)
        assert _backend(pool) != first
    finally:
        pool.close()
