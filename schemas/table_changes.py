"""PostgreSQL's notices that a table changed, heard on a thread of their own.

Migration 0090 has PostgreSQL send ``'<schema>.<table>'`` on channel ``sluice_changes`` after
each statement that changes a watched table. :class:`TableChanges` listens on one connection
and tells each table's watchers: ``changed()`` at each notice of its schema, ``heard(True)``
once listening (again) with the table's trigger in place, ``heard(False)`` when the
connection is lost (then it reconnects, every ``retry_s``). A watcher that keeps rows in
memory drops them at each call: while the notices are not heard it cannot know what changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import psycopg

from schemas.pg import Conn, DatabaseUnavailable, connect

__all__ = ["CHANNEL", "TableChanges", "Watcher"]

log = logging.getLogger(__name__)

CHANNEL = "sluice_changes"


class Watcher(Protocol):
    """What a table's notices are passed to (e.g. orchestrator.api.row_cache.RowCache)."""

    def changed(self) -> None:
        """The table changed."""

    def heard(self, hearing: bool) -> None:
        """The notices are heard from now on (True), or no longer (False)."""


class TableChanges:
    """Listens for the notices of tables in ``schema`` and passes them to their watchers."""

    def __init__(
        self, dsn: str, *, schema: str, name: str = "sluice-changes", retry_s: float = 1.0
    ) -> None:
        """Listen on ``dsn`` (once :meth:`start`) for changes to tables of ``schema``."""
        self._dsn, self._schema, self._name, self._retry_s = dsn, schema, name, retry_s
        self._watchers: dict[str, list[Watcher]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()

    def watch(self, table: str, watcher: Watcher) -> None:
        """Pass the notices of ``table`` to ``watcher`` (before :meth:`start`)."""
        self._watchers.setdefault(table, []).append(watcher)

    def start(self) -> None:
        """Listen on a daemon thread."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="table-changes")
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def wait_listening(self, timeout_s: float) -> bool:
        """Whether the listening connection is up, waiting up to ``timeout_s`` for it."""
        return self._listening.wait(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with connect(self._dsn, schema=self._schema, name=self._name) as conn:
                    failures = 0
                    self._listen(conn)
            except (DatabaseUnavailable, psycopg.OperationalError) as e:
                failures += 1
                if failures == 1:  # once per outage, not at every retry
                    log.warning(
                        "not hearing table changes (%s); retrying every %ss", e, self._retry_s
                    )
            finally:
                self._listening.clear()
                self._tell(self._watchers, lambda w: w.heard(False))
            self._stop.wait(self._retry_s)

    def _listen(self, conn: Conn) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        heard: set[str] = set()
        prefix = f"{self._schema}."
        while not self._stop.is_set():
            if len(heard) < len(self._watchers):
                # A table sends notices only once its migration made the trigger (a process
                # may be upgraded before the migration runs): until then it is not heard.
                now = _noticed(conn, self._schema) & self._watchers.keys()
                self._tell({t: self._watchers[t] for t in now - heard}, lambda w: w.heard(True))
                heard |= now
                self._listening.set()
            for notice in conn.notifies(timeout=1.0):
                if notice.payload.startswith(prefix):
                    for watcher in self._watchers.get(notice.payload[len(prefix) :], ()):
                        watcher.changed()

    @staticmethod
    def _tell(watchers: dict[str, list[Watcher]], call: Callable[[Watcher], None]) -> None:
        for each in watchers.values():
            for watcher in each:
                call(watcher)


_NOTICED = (
    b"SELECT c.relname FROM pg_trigger t"
    b" JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    b" WHERE n.nspname = %s AND t.tgname = c.relname || '_changed' AND NOT t.tgisinternal"
)


def _noticed(conn: Conn, schema: str) -> set[str]:
    """The tables of ``schema`` that send change notices (migration 0090's triggers)."""
    return {row[0] for row in conn.execute(_NOTICED, (schema,))}
