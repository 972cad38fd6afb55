"""Plain records appended to a test's own topic."""

from __future__ import annotations

from schemas.eventlog import producer
from schemas.settings import ServiceSettings


def append_numbered(settings: ServiceSettings, topic: str, counts: dict[int, int]) -> None:
    """Append ``counts[p]`` records (b"0", b"1", ...) to each partition ``p``, acknowledged."""
    out = producer(settings)
    for partition, n in counts.items():
        for i in range(n):
            out.produce(topic, value=b"%d" % i, partition=partition)
    assert out.flush(30) == 0
