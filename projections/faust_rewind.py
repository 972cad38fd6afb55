"""A work-around of faust-streaming 0.11 skipping trigger records after a (re)start.

faust silently drops fetched records of partitions that are not active yet (while the
dedup table recovers) or when its flow stops mid-batch, and then seeks back only the
partitions with a committed offset above 0: a partition never committed would skip what was
dropped. So every time faust seeks back (``ConsumerT.perform_seek``, which its rebalance and
its table recovery both call), the partitions of ``sluice.triggers`` without a committed
offset are rewound to their start too (auto_offset_reset=earliest, as intended); a request
answered twice names the same run either way.

faust offers no hook after its seek-back, so :func:`rewinder` wraps ``perform_seek`` on the
app's consumer. That is why faust-streaming is pinned exactly (pyproject.toml) and why
tests/unit/triggers/test_faust_rewind.py fails on any other version, or if the consumer
methods used here change shape: re-check the bug and this wrapper before moving the pin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

__all__ = ["FAUST_VERSION", "rewinder"]

FAUST_VERSION = "0.11.3"  # the version this wrapper was written against (and pinned to)


def rewinder(triggers: str) -> Callable[..., Awaitable[None]]:
    """An ``on_rebalance_complete`` receiver that installs the rewind on the app's consumer."""

    async def install(app: faust.App, **_: Any) -> None:
        consumer: Any = app.consumer  # perform_seek is on the class, not on ConsumerT
        if getattr(consumer, "_sluice_rewinds", False):
            return
        seek_back = consumer.perform_seek

        async def perform_seek() -> None:
            await seek_back()
            committed = await consumer.seek_to_committed()
            for tp in consumer.assignment():
                if tp.topic == triggers and not committed.get(tp):
                    await consumer.seek(tp, 0)

        consumer.perform_seek = perform_seek
        consumer._sluice_rewinds = True

    return install
