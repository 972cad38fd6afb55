"""Rows the API reads on every request (a token, a pipeline), kept in memory while
PostgreSQL's change notices for their table are heard (:mod:`schemas.table_changes`).

A row is served from memory only if it was read after the table's last notice, while the
notices were heard, and less than ``ttl_s`` ago; a notice, or losing the notices, drops every
row of the table. A read that began before a notice is not kept, even if it ends after it:
the read takes a :class:`Ticket` first, and :meth:`RowCache.keep` refuses a ticket older
than the last notice. So a revoked token is refused as soon as its notice arrives (a few ms
after the revocation commits), not ``ttl_s`` later; ``ttl_s`` bounds only what a notice lost
without the connection being seen to break could leave behind. Nothing absent is kept: an
unknown token or pipeline is read each time.

Thread-safe: the sync routes read on worker threads, the trigger POST on the event loop, and
the notices arrive on the watcher's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["TTL_S", "RowCache", "Ticket"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

TTL_S = 5.0  # default: a token or pipeline is read again at least this often


@dataclass(frozen=True, slots=True)
class Ticket:
    """Taken before a read: which notice the read follows, and when it began."""

    generation: int
    began: float


class RowCache(Generic[K, V]):
    """Rows of one table by key (see the module's docstring for when one is served)."""

    def __init__(self, *, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic):
        """Rows kept at most ``ttl_s`` (by ``clock``); none until :meth:`heard` says so."""
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[K, tuple[V, float]] = {}
        self._generation = 0
        self._hearing = False

    def get(self, key: K) -> V | None:
        """The row kept for ``key``, or None (never kept, dropped, or older than ``ttl_s``)."""
        with self._lock:
            kept = self._rows.get(key)
            if kept is None:
                return None
            if self._clock() - kept[1] >= self._ttl_s:
                del self._rows[key]
                return None
            return kept[0]

    def ticket(self) -> Ticket:
        """Take before reading a row that :meth:`keep` may keep."""
        with self._lock:
            return Ticket(self._generation, self._clock())

    def keep(self, key: K, row: V | None, ticket: Ticket) -> None:
        """Keep ``row``, read after ``ticket`` was taken, unless a notice came since (or the
        notices are not heard, or the row is absent)."""
        if row is None:
            return
        with self._lock:
            if self._hearing and ticket.generation == self._generation:
                self._rows[key] = (row, ticket.began)

    def changed(self) -> None:
        """The table changed: drop every row, and every read still in flight."""
        with self._lock:
            self._generation += 1
            self._rows.clear()

    def heard(self, hearing: bool) -> None:
        """Whether the table's notices are heard from now on; either way, what is kept may
        have missed one, so it is dropped."""
        with self._lock:
            self._generation += 1
            self._rows.clear()
            self._hearing = hearing

    def read(self, key: K, load: Callable[[], V | None]) -> V | None:
        """The row for ``key``: kept, or ``load()`` (then kept if it may be)."""
        found = self.get(key)
        if found is not None:
            return found
        ticket = self.ticket()
        found = load()
        self.keep(key, found, ticket)
        return found

    async def read_async(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """:meth:`read` with a coroutine that loads the row."""
        found = self.get(key)
        if found is not None:
            return found
        ticket = self.ticket()
        found = await load()
        self.keep(key, found, ticket)
        return found
