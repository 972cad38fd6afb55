"""Versioned SQL migrations for Sluice's PostgreSQL read models.

Files ``projections/sql/NNNN_name.sql`` are applied in order, each in its own transaction,
and recorded in ``schema_migrations``; an advisory lock lets several processes call
:func:`migrate` at once. ``python -m projections.migrate`` applies what is missing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from schemas.errors import InfrastructureError
from schemas.pg import DatabaseUnavailable, connect
from schemas.settings import ServiceSettings

__all__ = ["Migration", "MigrationError", "migrate", "migrations"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x51_1CE  # arbitrary, constant: serialises concurrent migrators


class MigrationError(InfrastructureError):
    """A migration could not be applied."""


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str


def migrations() -> tuple[Migration, ...]:
    """Every migration shipped with Sluice, in version order."""
    found = []
    for entry in resources.files("projections").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return tuple(sorted(found, key=lambda m: m.version))


def migrate(conn: psycopg.Connection[Any], *, schema: str = "public") -> list[int]:
    """Apply missing migrations inside ``schema``; return the versions applied now."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for m in migrations():
            if m.version in done:
                continue
            try:
                conn.execute(m.sql.encode())
            except psycopg.Error as e:
                raise MigrationError(f"migration {m.version:04d}_{m.name} failed: {e}") from e
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name)
            )
            applied_now.append(m.version)
    return applied_now


def main() -> int:
    """Apply missing migrations to the database named by ``SLUICE_PG_DSN``."""
    settings = ServiceSettings.from_env()
    try:
        with connect(settings.pg_dsn, schema="public", name="sluice-migrate") as conn:
            done = migrate(conn)
    except DatabaseUnavailable as e:
        print(f"cannot reach PostgreSQL at {settings.pg_dsn}: {e}; run infra/up", file=sys.stderr)
        return 1
    print(f"migrations applied: {done or 'none (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
