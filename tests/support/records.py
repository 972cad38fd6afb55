"""Plain records appended to a test's own topic, and records read back from a topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from schemas.eventlog import consumer, producer
from schemas.settings import ServiceSettings
from tests.support.waiting import eventually

T = TypeVar("T")


def append_numbered(settings: ServiceSettings, topic: str, counts: dict[int, int]) -> None:
    """Append ``counts[p]`` records (b"0", b"1", ...) to each partition ``p``, acknowledged."""
    out = producer(settings)
    for partition, n in counts.items():
        for i in range(n):
            out.produce(topic, value=b"%d" % i, partition=partition)
    assert out.flush(30) == 0


def read_kept(
    settings: ServiceSettings,
    topic: str,
    keep: Callable[[bytes, bytes], T | None],
    count: int,
    what: str,
) -> list[T]:
    """The first ``count`` records of ``topic``, from its start, that ``keep(key, value)``
    turns into something (waits up to 30 s for them)."""
    c = consumer(settings, group=f"reader-{uuid.uuid4().hex}")
    c.subscribe([topic])
    found: list[T] = []

    def enough() -> bool:  # a batch a look: a shared topic may hold many records
        for msg in c.consume(500, timeout=0.2):
            if msg.error() is None:
                kept = keep(msg.key() or b"", msg.value() or b"")
                if kept is not None:
                    found.append(kept)
        return len(found) >= count

    try:
        eventually(enough, timeout=30, what=f"{count} {what}")
    finally:
        c.close()
    return found[:count]  # the first ones, as read: a batch may bring later ones too
