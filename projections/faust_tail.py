"""A work-around of faust-streaming 0.11 leaving the last trigger of a partition unanswered.

:func:`~projections.faust_commits.commit_guard` reads a trigger faust dropped again once a
later record of its partition is answered. A dropped trigger with nothing after it has no
later record to reveal it: the consumer's position is past it, faust waits for more, and a
``RunRequested`` the API acknowledged waits for the next trigger of the same partition —
forever on a quiet day (seen in tests/chaos/test_broker_loss.py: the last trigger of a
partition, at its committed offset, never answered after the processor restarted while a
broker was down; 240 s later there was still no run).

So, every second, while the agent holds no record at all and no commit is under way: a
partition of ``sluice.triggers`` that is active, has no answer waiting for a commit and a
high watermark past its committed offset holds records nobody is answering. Once it has
looked so for :data:`STALLED_AFTER_S`, it is read again from its committed offset. A
record answered twice names the same run (projections/dedup.py); while the agent is busy
nothing is judged, so a backlog is never mistaken for a stall.

The attributes read are private to faust: faust-streaming is pinned exactly
(pyproject.toml) and tests/unit/triggers/test_faust_tail.py fails if their shape moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from projections.faust_commits import read_again

__all__ = ["STALLED_AFTER_S", "WATCH_EVERY_S", "tail_watch", "unanswered_from"]

WATCH_EVERY_S = 1.0
STALLED_AFTER_S = 2.0  # > the fetch of a record just appended, < what a user would wait

log = logging.getLogger(__name__)


def unanswered_from(highwater: int | None, committed: int | None, pending: bool) -> int | None:
    """The offset to read a partition again from, when it holds records past its committed
    offset (``committed`` None: never committed, so from 0) and nothing of it is pending (in
    the agent or answered and waiting for a commit); None otherwise."""
    if pending or highwater is None:
        return None
    start = committed or 0
    return start if highwater > start else None


def tail_watch(triggers: str) -> Callable[[faust.App], Awaitable[None]]:
    """A check, for a faust timer every :data:`WATCH_EVERY_S`, that reads again the
    partitions of ``triggers`` whose records sat unanswered for :data:`STALLED_AFTER_S`."""
    since: dict[Any, tuple[int, float]] = {}  # partition -> (offset, when first seen stalled)

    async def watch(app: faust.App) -> None:
        consumer: Any = app.consumer
        now = time.monotonic()
        stalled = _stalled(consumer, triggers)
        for tp in set(since) - set(stalled):
            del since[tp]
        for tp, head in stalled.items():
            if since.get(tp, (None, 0.0))[0] != head:
                since[tp] = (head, now)
            elif now - since[tp][1] >= STALLED_AFTER_S:
                del since[tp]
                log.warning(
                    "%s[%d]: records from offset %d sat unanswered; reading them again",
                    tp.topic,
                    tp.partition,
                    head,
                )
                await read_again(consumer, tp, head)

    return watch


def _stalled(consumer: Any, triggers: str) -> dict[Any, int]:
    busy = bool(consumer._unacked_messages) or consumer._commit_fut is not None
    if busy or not consumer.flow_active:
        return {}
    found: dict[Any, int] = {}
    for tp in list(consumer._active_partitions or ()):
        if tp.topic != triggers:
            continue
        try:
            highwater = consumer.highwater(tp)
        except AssertionError:  # unassigned by a rebalance since the set was read
            continue
        head = unanswered_from(
            highwater, consumer._committed_offset.get(tp), bool(consumer._acked.get(tp))
        )
        if head is not None:
            found[tp] = head
    return found
