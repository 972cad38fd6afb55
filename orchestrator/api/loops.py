"""The API process's background loops: cron schedules, and the retention sweep (expired
artifacts, and the logs of attempts whose runner died before archiving them)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from orchestrator.api.context import Context
from orchestrator.api.log_archiver import archive_stranded_logs
from orchestrator.api.retention import collect_garbage
from orchestrator.api.schedules import fire_due
from schemas.errors import SluiceError

__all__ = ["start_loops"]

_log = logging.getLogger(__name__)


def start_loops(ctx: Context, stop: threading.Event) -> list[threading.Thread]:
    """Start the cron and retention loops as daemon threads; they end when ``stop`` is set."""
    loops = (
        ("cron", ctx.api.cron_interval_s, lambda: fire_due(ctx)),
        ("gc", ctx.api.gc_interval_s, lambda: _sweep(ctx)),
    )
    threads = []
    for name, interval, step in loops:
        t = threading.Thread(
            target=_every, args=(interval, step, stop, name), daemon=True, name=f"api-{name}"
        )
        t.start()
        threads.append(t)
    return threads


def _every(interval: float, step: Callable[[], int], stop: threading.Event, name: str) -> None:
    while not stop.wait(interval):
        try:
            done = step()
        except SluiceError as e:
            _log.warning("%s loop: %s", name, e)
            continue
        if done:
            _log.info("%s loop: %d done", name, done)


def _sweep(ctx: Context) -> int:
    expired = collect_garbage(ctx.db, ctx.s3, ctx.producer, inbox=ctx.names.inbox)
    bucket = ctx.settings.log_bucket
    inbox = ctx.names.inbox
    prefix = ctx.settings.topic_prefix  # the runners' object keys start with it too
    archived = archive_stranded_logs(
        ctx.db, ctx.s3, ctx.producer, inbox=inbox, bucket=bucket, key_prefix=prefix
    )
    return expired + archived
