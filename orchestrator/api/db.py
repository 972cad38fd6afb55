"""The API's PostgreSQL connections: a :class:`schemas.pg.Pool` in the read model's schema,
with the request-level error translation (a value PostgreSQL cannot take is the caller's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from schemas.errors import DomainError
from schemas.pg import Conn, DatabaseUnavailable, Pool

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

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection for one unit of work; driver errors become Sluice errors."""
        with self._pool.connection() as conn:
            try:
                yield conn
            except psycopg.DataError as e:  # e.g. a NUL character in a path or query parameter
                raise InvalidValue(
                    f"a value in the request cannot be stored or searched: {e}"
                ) from e

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()
