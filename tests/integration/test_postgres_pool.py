"""The connection pools API requests borrow from (schemas.pg.Pool, and AsyncPool for the
routes on the event loop), on the real PostgreSQL: a connection idle long enough is checked
before it is lent, a fresh one is lent at once."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from schemas.pg import AsyncPool, DatabaseUnavailable, Pool


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


async def _async_backend(pool: AsyncPool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return int(row[0])


def test_the_asyncio_pool_replaces_a_connection_killed_while_idle_past_the_fresh_window(
    pg_conninfo: str,
) -> None:
    async def scenario() -> tuple[int, int]:
        pool = AsyncPool(pg_conninfo, schema="public", size=1, fresh_s=0.0)
        await pool.open()
        try:
            killed = await _async_backend(pool)
            await asyncio.to_thread(_terminate, pg_conninfo, killed)
            return killed, await _async_backend(pool)
        finally:
            await pool.close()

    killed, lent = asyncio.run(scenario())
    assert lent != killed


def test_the_asyncio_pool_sets_the_schema_as_search_path(pg_conninfo: str) -> None:
    async def search_path() -> str:
        pool = AsyncPool(pg_conninfo, schema="sluice_async_test", size=1)
        await pool.open()
        try:
            async with pool.connection() as conn:
                row = await (await conn.execute("SHOW search_path")).fetchone()
        finally:
            await pool.close()
        assert row is not None
        return str(row[0])

    assert asyncio.run(search_path()) == "sluice_async_test"


def test_the_asyncio_pool_unopened_is_a_sluice_error() -> None:
    async def borrow() -> None:
        async with AsyncPool("postgresql://nowhere", schema="public").connection():
            pass

    with pytest.raises(DatabaseUnavailable, match="not open"):
        asyncio.run(borrow())


def test_the_asyncio_pool_without_postgresql_is_a_sluice_error() -> None:
    async def borrow() -> None:
        pool = AsyncPool("postgresql://127.0.0.1:1/none", schema="public", wait_s=0.5)
        await pool.open()
        try:
            async with pool.connection():
                pass
        finally:
            await pool.close()

    with pytest.raises(DatabaseUnavailable, match="no PostgreSQL connection"):
        asyncio.run(borrow())
