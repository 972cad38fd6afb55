"""Decoding from several threads at once, as ``sluice processors`` does (one projection per
thread), while the record builders are still being compiled."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from orchestrator import wire
from orchestrator.domain.events import RunEvent
from tests.unit.domain.domain_helpers import Driver, diamond


@pytest.fixture
def cold_builders() -> Iterator[None]:
    """No builder compiled yet, and threads switched as often as Python allows."""
    saved, interval = dict(wire._BUILDERS), sys.getswitchinterval()
    wire._BUILDERS.clear()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)
    wire._BUILDERS.update(saved)


def test_threads_decoding_while_builders_compile_all_get_the_event(cold_builders: None) -> None:
    driver = Driver(diamond(), run_id="r1", now=0)
    event: RunEvent = driver.log[0]
    value = wire.encode_event(event)
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def decode() -> None:
        start.wait()
        try:
            results.append(wire.decode_event(value))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=decode) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert results == [event] * 8
