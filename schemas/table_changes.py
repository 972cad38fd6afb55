"""PostgreSQL's notices that a table changed, heard on a thread of their own.

Migration 0090 has PostgreSQL send ``'<schema>.<table>'`` on channel ``sluice_changes`` after
each statement that changes a watched table. :class:`TableChanges` listens on one connection
and tells each table's watchers: ``changed()`` at each notice of its schema, ``heard(True)``
once listening (again), ``heard(False)`` when the connection is lost (then it reconnects,
every ``retry_s``). A watcher that keeps rows in memory drops them at each call: while the
notices are not heard it cannot know what changed.
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
        """Whether the notices are heard, waiting up to ``timeout_s`` for it."""
        return self._listening.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self._dsn, schema=self._schema, name=self._name) as conn:
                    self._listen(conn)
            except (DatabaseUnavailable, psycopg.OperationalError) as e:
                log.warning("not hearing table changes (%s); retrying in %ss", e, self._retry_s)
            finally:
                self._listening.clear()
                self._tell(lambda w: w.heard(False))
            self._stop.wait(self._retry_s)

    def _listen(self, conn: Conn) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        self._tell(lambda w: w.heard(True))
        self._listening.set()
        prefix = f"{self._schema}."
        while not self._stop.is_set():
            for notice in conn.notifies(timeout=1.0):
                if notice.payload.startswith(prefix):
                    for watcher in self._watchers.get(notice.payload[len(prefix) :], ()):
                        watcher.changed()

    def _tell(self, call: Callable[[Watcher], None]) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                call(watcher)
