"""The API's PostgreSQL connections: a :class:`schemas.pg.Pool` in the read model's schema
(and its asyncio twin for the routes that stay on the event loop), with the request-level
error translation (a value PostgreSQL cannot take is the caller's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg

from schemas.errors import DomainError
from schemas.pg import AsyncConn, AsyncPool, Conn, DatabaseUnavailable, Pool

__all__ = ["Database", "DatabaseUnavailable", "InvalidValue"]


class InvalidValue(DomainError):
    """A request value PostgreSQL cannot take (such as a NUL character); remove it."""


class Database:
    """Autocommit connections, reused; a broken one is discarded rather than lent again."""

    def __init__(self, *, dsn: str, schema: str, size: int = 16) -> None:
        """Connect lazily to ``dsn``; at most ``size`` connections at once."""
        self.dsn = dsn
        self.schema = schema
        self._pool = Pool(dsn, schema=schema, name="sluice-api", size=size)
        self._async = AsyncPool(dsn, schema=schema, name="sluice-api-async", size=size)

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection for one unit of work; driver errors become Sluice errors."""
        with self._pool.connection() as conn:
            try:
                yield conn
            except psycopg.DataError as e:  # e.g. a NUL character in a path or query parameter
                raise _invalid(e) from e

    @asynccontextmanager
    async def async_connection(self) -> AsyncIterator[AsyncConn]:
        """:meth:`connection` for a coroutine on the API's event loop (once :meth:`open`)."""
        async with self._async.connection() as conn:
            try:
                yield conn
            except psycopg.DataError as e:
                raise _invalid(e) from e

    async def open(self) -> None:
        """Open the asyncio pool in the running loop (the app's lifespan)."""
        await self._async.open()

    async def close_async(self) -> None:
        """Close the asyncio pool (in the loop that opened it)."""
        await self._async.close()

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()


def _invalid(e: psycopg.DataError) -> InvalidValue:
    return InvalidValue(f"a value in the request cannot be stored or searched: {e}")
