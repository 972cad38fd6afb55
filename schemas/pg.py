"""PostgreSQL connections for every Sluice process: one module, one style of ``search_path``.

* :func:`connect` opens one connection (a processor's own, kept across its transaction
  loop, or a command's for one unit of work);
* :class:`Pool` lends connections to concurrent request handlers (the API, the secret store,
  the test history), on top of ``psycopg_pool.ConnectionPool``;
* :class:`AsyncPool` lends asyncio connections to the routes that never leave the API's event
  loop (the trigger POST), on top of ``psycopg_pool.AsyncConnectionPool``.

Both set ``search_path`` the same way, ``SET search_path TO <schema>`` with the name quoted as
an identifier, on every new connection, and both translate a driver error into
:class:`DatabaseUnavailable` (``raise … from e``), so callers catch one Sluice error.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from schemas.errors import InfrastructureError

__all__ = [
    "AsyncConn",
    "AsyncPool",
    "Conn",
    "DatabaseUnavailable",
    "Pool",
    "connect",
    "set_search_path",
]

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[Any]
_CONNECT_TIMEOUT_S = 10


class DatabaseUnavailable(InfrastructureError):
    """PostgreSQL could not be reached or failed a query; check it is up (infra/up)."""


def _search_path(schema: str) -> sql.Composed:
    return sql.SQL("SET search_path TO {}").format(sql.Identifier(schema))


def set_search_path(conn: Conn, schema: str) -> None:
    """Make ``schema`` the connection's ``search_path`` (the one way Sluice sets it)."""
    conn.execute(_search_path(schema))


def connect(dsn: str, *, schema: str, name: str = "sluice", autocommit: bool = True) -> Conn:
    """A new connection to ``dsn`` whose ``search_path`` is ``schema``.

    ``name`` is its ``application_name`` (what ``pg_stat_activity`` shows). Raises
    :class:`DatabaseUnavailable` if PostgreSQL cannot be reached.
    """
    try:
        conn = psycopg.connect(
            dsn, autocommit=True, application_name=name, connect_timeout=_CONNECT_TIMEOUT_S
        )
        set_search_path(conn, schema)
        conn.autocommit = autocommit
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL ({e}); run infra/up") from e
    return conn


class _Returns:
    """When each pooled connection was last returned, to skip the liveness round trip on a
    connection returned a moment ago: under load that check was an eighth of the API's busy
    time (py-spy under bench/api.py), one extra round trip per borrow."""

    def __init__(self, fresh_s: float) -> None:
        self._fresh_s = fresh_s
        self._at: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def note(self, conn: object) -> None:
        with self._lock:
            self._at[conn] = time.monotonic()

    def stale(self, conn: object) -> bool:
        """Whether ``conn`` must be checked before it is lent (idle ``fresh_s`` or more)."""
        with self._lock:
            returned = self._at.get(conn)
        return returned is None or time.monotonic() - returned >= self._fresh_s


def _pool_kwargs(name: str) -> dict[str, Any]:
    return {"autocommit": True, "application_name": name, "connect_timeout": _CONNECT_TIMEOUT_S}


def _unavailable(e: Exception) -> DatabaseUnavailable:
    if isinstance(e, PoolTimeout):
        return DatabaseUnavailable(f"no PostgreSQL connection ({e}); run infra/up")
    return DatabaseUnavailable(f"PostgreSQL failed a query ({e}); run infra/up")


class Pool:
    """Autocommit connections lent one unit of work at a time (``psycopg_pool`` underneath).

    A connection that broke is discarded by the pool, not lent again; one returned inside a
    failed transaction is rolled back first. One that sat idle for ``fresh_s`` or more is
    checked with a round trip before it is lent (PostgreSQL may have restarted meanwhile);
    one returned more recently is lent at once.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        name: str = "sluice",
        size: int = 16,
        wait_s: float = 10,
        fresh_s: float = 1.0,
    ) -> None:
        """Open connections to ``dsn`` lazily, at most ``size`` at once, in ``schema``."""
        self.dsn = dsn
        self.schema = schema
        self._returns = _Returns(fresh_s)
        self._pool = ConnectionPool(
            dsn,
            min_size=0,
            max_size=size,
            kwargs=_pool_kwargs(name),
            configure=lambda conn: set_search_path(conn, schema),
            # no reset callback: with one, the pool hands every returned connection to its
            # worker thread (a thread hop per unit of work, 2 % of the API's GIL under load)
            check=self._check_unless_fresh,
            timeout=wait_s,
            open=True,
            name=name,
        )

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection for one unit of work; a driver error becomes DatabaseUnavailable."""
        try:
            with self._pool.connection() as conn:
                try:
                    yield conn
                finally:
                    self._returns.note(conn)
        except (PoolTimeout, psycopg.OperationalError) as e:
            raise _unavailable(e) from e

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()

    def _check_unless_fresh(self, conn: Conn) -> None:
        if self._returns.stale(conn):
            ConnectionPool.check_connection(conn)


class AsyncPool:
    """:class:`Pool`'s asyncio twin, for routes that stay on the event loop: a thread hop to
    run a blocking query and back costs more CPU than the query (bench/shape_floor.py).

    Opened inside the loop that uses it (:meth:`open`), closed there (:meth:`close`).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        name: str = "sluice",
        size: int = 16,
        wait_s: float = 10,
        fresh_s: float = 1.0,
    ) -> None:
        """Connections to ``dsn`` in ``schema``, at most ``size`` at once, once opened."""
        self._returns = _Returns(fresh_s)
        self._settings = (dsn, schema, name, size, wait_s)
        self._pool: AsyncConnectionPool[AsyncConn] | None = None

    async def open(self) -> None:
        """Create the pool in the running loop (connections are made lazily)."""
        dsn, schema, name, size, wait_s = self._settings

        async def configure(conn: AsyncConn) -> None:
            await conn.execute(_search_path(schema))

        self._pool = AsyncConnectionPool(
            dsn,
            min_size=0,
            max_size=size,
            kwargs=_pool_kwargs(name),
            configure=configure,
            check=self._check_unless_fresh,
            timeout=wait_s,
            open=False,
            name=name,
        )
        await self._pool.open()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        """A connection for one unit of work; a driver error becomes DatabaseUnavailable."""
        if self._pool is None:
            raise DatabaseUnavailable("the asyncio PostgreSQL pool is not open")
        try:
            async with self._pool.connection() as conn:
                try:
                    yield conn
                finally:
                    self._returns.note(conn)
        except (PoolTimeout, psycopg.OperationalError) as e:
            raise _unavailable(e) from e

    async def close(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _check_unless_fresh(self, conn: AsyncConn) -> None:
        if self._returns.stale(conn):
            await AsyncConnectionPool.check_connection(conn)
