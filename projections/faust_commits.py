"""A work-around of faust-streaming 0.11 committing past a trigger its agent never answered.

faust commits, per partition, the acknowledged offsets that follow one another, and takes
two shortcuts that lose a record the consumer dropped (a record fetched while its
partition was not active, or after its flow stopped mid-batch):

- a jump between two records read is taken for offsets that hold no record (transaction
  markers) and committed as if answered (``Consumer._add_gap``);
- the committed offset (the next record to read) is compared to the acknowledged ones as
  if it were the last record read, so the one record at the committed offset can be
  skipped (``Consumer._new_offset``).

Either way a ``RunRequested`` the API acknowledged would never become a run (seen in
tests/chaos/test_broker_loss.py: a trigger at the committed offset of its partition
dropped while the processor restarted and a broker was down). ``sluice.triggers`` is
written by idempotent, non-transactional producers only, so its offsets have no holes:
for its partitions :func:`commit_guard` lets faust commit only acknowledged offsets that
start at the committed one, and seeks a partition whose next record to answer is missing
back to it (unless retention deleted it first). A record answered twice names the same
run either way (projections/dedup.py).

The wrapped methods are private to faust: faust-streaming is pinned exactly
(pyproject.toml) and tests/unit/triggers/test_faust_commits.py fails if their shape moves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

__all__ = ["SEEK_AGAIN_AFTER_S", "commit_guard", "missing_head", "read_again"]

SEEK_AGAIN_AFTER_S = 1.0  # a seek-back whose records were dropped again is retried after this

log = logging.getLogger(__name__)


def missing_head(acked: Sequence[int], committed: int | None) -> int | None:
    """The offset to read again when the record at ``committed`` (the next one to answer)
    was never acknowledged but later ones were; None when the acknowledged offsets start
    at it, or nothing says where they should start."""
    if committed is None or not acked:
        return None
    return committed if min(acked) > committed else None


def commit_guard(triggers: str) -> Callable[..., Awaitable[None]]:
    """An ``on_rebalance_complete`` receiver that installs the guard on the app's consumer."""

    async def install(app: faust.App, **_: Any) -> None:
        consumer: Any = app.consumer  # the methods wrapped are the base class's, not ConsumerT's
        if getattr(consumer, "_sluice_guards_commits", False):
            return
        _guard(consumer, triggers)
        consumer._sluice_guards_commits = True

    return install


def _guard(consumer: Any, triggers: str) -> None:
    new_offset, add_gap = consumer._new_offset, consumer._add_gap
    sought: dict[Any, tuple[int, float]] = {}  # partition -> (offset, when) of the last seek
    seeking: set[asyncio.Future[None]] = set()  # held until done: the loop keeps weak ones

    def guarded_new_offset(tp: Any) -> int | None:
        if tp.topic != triggers:
            return new_offset(tp)  # type: ignore[no-any-return]
        head = missing_head(consumer._acked[tp], consumer._committed_offset[tp])
        if head is None:
            return new_offset(tp)  # type: ignore[no-any-return]
        last = sought.get(tp)
        now = time.monotonic()
        if last is None or last[0] != head or now - last[1] >= SEEK_AGAIN_AFTER_S:
            sought[tp] = (head, now)
            log.warning(
                "%s[%d]: offset %d was never answered; reading it again",
                tp.topic,
                tp.partition,
                head,
            )
            seek = asyncio.ensure_future(read_again(consumer, tp, head))
            seeking.add(seek)
            seek.add_done_callback(seeking.discard)
        return None

    async def guarded_add_gap(tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic != triggers:
            await add_gap(tp, offset_from, offset_to)
            return
        # No record of sluice.triggers is a transaction marker: these were dropped, not absent.
        log.warning(
            "%s[%d]: offsets %d-%d were skipped; they are read again before any commit passes them",
            tp.topic,
            tp.partition,
            offset_from,
            offset_to - 1,
        )

    consumer._new_offset = guarded_new_offset
    consumer._add_gap = guarded_add_gap


async def read_again(consumer: Any, tp: Any, head: int) -> None:
    """Seek ``tp`` back to ``head``, unless retention deleted it (the processor stopped for
    longer than ``sluice.triggers`` keeps records): then commits go on from the oldest
    record kept, as faust's own reset to the earliest offset does."""
    earliest = (await consumer.earliest_offsets(tp)).get(tp)
    if earliest is not None and earliest > head:
        log.error(
            "%s[%d]: offsets %d-%d were deleted before they were answered (retention)",
            tp.topic,
            tp.partition,
            head,
            earliest - 1,
        )
        consumer._committed_offset[tp] = earliest
        return
    await consumer.seek(tp, head)
