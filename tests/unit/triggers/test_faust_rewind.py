"""The faust work-around (projections/faust_rewind.py) still fits the faust installed.

These fail on a faust upgrade on purpose: the wrapper relies on the consumer's seek-back
methods, so moving the pin means re-checking the bug and the wrapper first.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from faust.transport.consumer import Consumer
from faust.types.transports import ConsumerT

from projections.faust_rewind import FAUST_VERSION


def test_faust_is_the_version_the_rewind_was_written_for() -> None:
    assert version("faust-streaming") == FAUST_VERSION


def test_the_consumer_still_seeks_back_with_the_methods_the_rewind_wraps() -> None:
    for name in ("perform_seek", "seek_to_committed", "seek"):
        assert inspect.iscoroutinefunction(getattr(Consumer, name)), name
    assert hasattr(ConsumerT, "perform_seek")  # what faust's recovery calls after a rebalance
    assert list(inspect.signature(Consumer.perform_seek).parameters) == ["self"]
    assert list(inspect.signature(Consumer.seek).parameters) == ["self", "partition", "offset"]
