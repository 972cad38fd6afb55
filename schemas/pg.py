"""PostgreSQL connections for every Sluice process: one module, one style of ``search_path``.

* :func:`connect` opens one connection (a processor's own, kept across its transaction
  loop, or a command's for one unit of work);
* :class:`Pool` lends connections to concurrent request handlers (the API, the secret store,
  the test history), on top of ``psycopg_pool.ConnectionPool``.

Both set ``search_path`` the same way, ``SET search_path TO <schema>`` with the name quoted as
an identifier, on every new connection, and both translate a driver error into
:class:`DatabaseUnavailable` (``raise … from e``), so callers catch one Sluice error.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from schemas.errors import InfrastructureError

__all__ = ["Conn", "DatabaseUnavailable", "Pool", "connect", "set_search_path"]

Conn = psycopg.Connection[Any]
_CONNECT_TIMEOUT_S = 10


class DatabaseUnavailable(InfrastructureError):
    """PostgreSQL could not be reached or failed a query; check it is up (infra/up)."""


def set_search_path(conn: Conn, schema: str) -> None:
    """Make ``schema`` the connection's ``search_path`` (the one way Sluice sets it)."""
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))


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


class Pool:
    """Autocommit connections lent one unit of work at a time (``psycopg_pool`` underneath).

    A connection that broke is discarded by the pool, not lent again; one returned inside a
    failed transaction is rolled back first. One that sat idle for ``fresh_s`` or more is
    checked with a round trip before it is lent (PostgreSQL may have restarted meanwhile);
    one returned more recently is lent at once: under load that check was an eighth of the
    API's busy time (py-spy under bench/api.py), one extra round trip per borrow.
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
        self._fresh_s = fresh_s
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
        self._returned_lock = threading.Lock()
        self._pool = ConnectionPool(
            dsn,
            min_size=0,
            max_size=size,
            kwargs={
                "autocommit": True,
                "application_name": name,
                "connect_timeout": _CONNECT_TIMEOUT_S,
            },
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
                    self._note_returned(conn)
        except PoolTimeout as e:
            raise DatabaseUnavailable(f"no PostgreSQL connection ({e}); run infra/up") from e
        except psycopg.OperationalError as e:
            raise DatabaseUnavailable(f"PostgreSQL failed a query ({e}); run infra/up") from e

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()

    def _note_returned(self, conn: Conn) -> None:
        with self._returned_lock:
            self._returned[conn] = time.monotonic()

    def _check_unless_fresh(self, conn: Conn) -> None:
        with self._returned_lock:
            returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned >= self._fresh_s:
            ConnectionPool.check_connection(conn)
