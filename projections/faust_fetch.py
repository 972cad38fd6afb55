"""A work-around of aiokafka holding the trigger processor's next fetch for 100 ms.

aiokafka's fetcher keeps fetched records a caller has not taken yet and, meanwhile, sends
no new fetch to that broker for ``prefetch_backoff`` seconds (0.1 by default). Under faust
that happens between two triggers (faust asks for the active partitions only), so a trigger
arriving in that window waited up to 100 ms before its agent saw it: bench/trigger_path.py
showed a cluster of trigger-processor latencies at 90-110 ms, gone with a 5 ms backoff.

Neither faust nor ``AIOKafkaConsumer`` exposes the setting (the ``Fetcher`` is built inside
``AIOKafkaConsumer.start``), so :func:`prefetch_tuner` sets it on the started consumer's
fetcher after each rebalance. aiokafka is pinned with faust (pyproject.toml), and
tests/unit/triggers/test_faust_fetch.py fails if the attribute or its default moves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

__all__ = ["AIOKAFKA_VERSION", "PREFETCH_BACKOFF_S", "prefetch_tuner"]

AIOKAFKA_VERSION = "0.14.0"  # the version whose Fetcher this was written against
PREFETCH_BACKOFF_S = 0.005

log = logging.getLogger(__name__)


def prefetch_tuner(backoff_s: float = PREFETCH_BACKOFF_S) -> Callable[..., Awaitable[None]]:
    """An ``on_rebalance_complete`` receiver that shortens the fetcher's prefetch backoff."""

    async def tune(app: faust.App, **_: Any) -> None:
        fetcher = _fetcher(app)
        if fetcher is None:
            log.warning("no aiokafka fetcher to tune; triggers may wait up to 100 ms")
            return
        fetcher._prefetch_backoff = backoff_s

    return tune


def _fetcher(app: faust.App) -> Any:
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    return getattr(consumer, "_fetcher", None)
