"""RowCache: a kept row is never older than its table's last change notice, never kept while
the notices are not heard, never served past its time to live; a fresh one is served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from orchestrator.api.row_cache import RowCache, Ticket

TTL_S = 5.0
KEYS = st.sampled_from(["a", "b", "c"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RowCacheMachine(RuleBasedStateMachine):
    """Reads begin (a ticket), end (keep), interleave with notices, lost and regained
    notices, and time; every get answers None or a row some read may have kept."""

    reads = Bundle("reads")

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.cache: RowCache[str, int] = RowCache(ttl_s=TTL_S, clock=self.clock)
        self.version = 0  # the table's rows change with each notice
        self.hearing = False
        self.drops = 0  # notices, and each change of hearing
        self.valid: dict[str, dict[int, float]] = {}  # key -> row -> when its read began

    @rule(hearing=st.booleans())
    def hear(self, hearing: bool) -> None:
        self.cache.heard(hearing)
        self.hearing = hearing
        self._dropped()

    @rule()
    def notice(self) -> None:
        self.version += 1
        self.cache.changed()
        self._dropped()

    @rule(target=reads, key=KEYS)
    def begin_read(self, key: str) -> tuple[str, int, Ticket, int]:
        return key, self.version, self.cache.ticket(), self.drops

    @rule(read=consumes(reads))
    def end_read(self, read: tuple[str, int, Ticket, int]) -> None:
        key, row, ticket, drops = read
        self.cache.keep(key, row, ticket)
        if drops == self.drops and self.hearing:
            self.valid.setdefault(key, {})[row] = ticket.began
            assert self.cache.get(key) == row or self.clock.now - ticket.began >= TTL_S

    @rule(seconds=st.floats(min_value=0, max_value=3))
    def wait(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def every_row_served_was_read_since_the_last_drop_and_within_its_ttl(self) -> None:
        for key in ("a", "b", "c"):
            row = self.cache.get(key)
            if row is not None:
                began = self.valid.get(key, {}).get(row)
                assert began is not None, (key, row)
                assert self.clock.now - began < TTL_S

    def _dropped(self) -> None:
        self.drops += 1
        self.valid.clear()


TestRowCacheMachine = RowCacheMachine.TestCase


def test_nothing_is_kept_before_the_notices_are_heard() -> None:
    cache: RowCache[str, int] = RowCache()
    cache.keep("a", 1, cache.ticket())
    assert cache.get("a") is None


def test_an_absent_row_is_not_kept() -> None:
    cache: RowCache[str, int] = RowCache()
    cache.heard(True)
    loads: list[str] = []

    def load() -> int | None:
        loads.append("a")
        return None

    assert cache.read("a", load) is None
    assert cache.read("a", load) is None
    assert loads == ["a", "a"]


def test_a_read_that_began_before_a_notice_is_not_kept() -> None:
    cache: RowCache[str, int] = RowCache()
    cache.heard(True)

    def load_across_a_notice() -> int:
        cache.changed()  # the table changed while the row was being read
        return 1

    assert cache.read("a", load_across_a_notice) == 1
    assert cache.get("a") is None


def test_a_kept_row_is_served_without_loading_until_its_ttl() -> None:
    clock = Clock()
    cache: RowCache[str, int] = RowCache(ttl_s=TTL_S, clock=clock)
    cache.heard(True)
    assert asyncio.run(cache.read_async("a", _loads(7))) == 7
    clock.now += TTL_S - 0.1
    assert asyncio.run(cache.read_async("a", _loads(8))) == 7
    clock.now += 0.1
    assert asyncio.run(cache.read_async("a", _loads(9))) == 9


def _loads(row: int) -> Callable[[], Awaitable[int]]:
    async def load() -> int:
        return row

    return load
