"""The fetch work-around (projections/faust_fetch.py) still fits the aiokafka installed.

These fail on an aiokafka or faust upgrade on purpose: the tuner sets a private attribute of
aiokafka's fetcher, reached through faust's consumer thread.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from aiokafka.consumer.fetcher import Fetcher
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from projections.faust_fetch import AIOKAFKA_VERSION


def test_aiokafka_is_the_version_the_tuner_was_written_for() -> None:
    assert version("aiokafka") == AIOKAFKA_VERSION


def test_the_fetcher_still_holds_a_100_ms_prefetch_backoff_where_the_tuner_sets_it() -> None:
    parameter = inspect.signature(Fetcher.__init__).parameters["prefetch_backoff"]
    assert parameter.default == 0.1
    assert "self._prefetch_backoff = prefetch_backoff" in inspect.getsource(Fetcher.__init__)
    assert "backoff=self._prefetch_backoff" in inspect.getsource(Fetcher)


def test_faust_keeps_its_aiokafka_consumer_on_the_consumer_thread() -> None:
    assert "self._consumer = self._create_consumer(" in inspect.getsource(
        AIOKafkaConsumerThread.on_start
    )
