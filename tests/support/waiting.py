"""Polling instead of sleeping: wait for a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")

__all__ = ["eventually"]


def eventually(
    probe: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy (returned) or ``timeout`` passes.

    An ``AssertionError`` raised by the probe counts as "not yet"; the last one is re-raised
    at the deadline so the failure says what was still wrong.
    """
    deadline = time.monotonic() + timeout
    last: AssertionError | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except AssertionError as e:
            last = e
        if time.monotonic() >= deadline:
            if last is not None:
                raise last
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)
