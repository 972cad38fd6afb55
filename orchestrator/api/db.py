"""A small pool of PostgreSQL connections whose ``search_path`` is the read model's schema."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from schemas.errors import DomainError, InfrastructureError

__all__ = ["Database", "DatabaseUnavailable", "InvalidValue"]

Conn = psycopg.Connection[Any]


class DatabaseUnavailable(InfrastructureError):
    """PostgreSQL could not be reached or failed a query; check it is up (infra/up)."""


class InvalidValue(DomainError):
    """A request value PostgreSQL cannot take (such as a NUL character); remove it."""


class Database:
    """Autocommit connections, reused; a broken one is closed rather than returned."""

    def __init__(self, *, dsn: str, schema: str, size: int = 16) -> None:
        """Connect lazily to ``dsn``; keep at most ``size`` idle connections."""
        self.dsn = dsn
        self.schema = schema
        self._idle: queue.LifoQueue[Conn] = queue.LifoQueue(maxsize=size)
        self._closed = False  # after close(), connections still out are closed on return

    def _open(self) -> Conn:
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, application_name="sluice-api")
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        except psycopg.Error as e:
            raise DatabaseUnavailable(f"cannot reach PostgreSQL ({e}); run infra/up") from e
        return conn

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection for one unit of work; driver errors become DatabaseUnavailable."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
        except psycopg.OperationalError as e:
            conn.close()
            raise DatabaseUnavailable(f"PostgreSQL failed a query ({e}); run infra/up") from e
        except psycopg.DataError as e:  # e.g. a NUL character in a path or query parameter
            self._give_back(conn)
            raise InvalidValue(f"a value in the request cannot be stored or searched: {e}") from e
        except BaseException:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                self._give_back(conn)
            else:
                conn.close()
            raise
        self._give_back(conn)

    def _give_back(self, conn: Conn) -> None:
        if self._closed:
            conn.close()
            return
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        """Close every idle connection (and each one in use when it comes back)."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
