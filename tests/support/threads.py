"""Workers run on a thread of their own for the length of a block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar


class Stoppable(Protocol):
    def run(self, stop: threading.Event) -> None: ...


W = TypeVar("W", bound=Stoppable)


@contextmanager
def running(worker: W) -> Iterator[W]:
    """``worker.run(stop)`` on a thread while the block runs; stopped and joined after it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), f"{type(worker).__name__} did not stop"
