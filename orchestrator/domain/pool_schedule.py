"""Which period of the pool's policy holds at a given instant (the last one that matches).

A period with a ``start`` cron matches from each firing of the cron, in its time zone, for
``duration``; one without a ``start`` always matches. Time is given (``now_ms``), never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from orchestrator.domain.pool_config import BASE_PERIOD, Period

__all__ = ["active_period", "period_matches"]


def period_matches(period: Period, now_ms: int) -> bool:
    """Whether ``period`` holds at ``now_ms`` (Unix milliseconds)."""
    if period.start is None:
        return True
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(ZoneInfo(period.timezone))
    started = _last_firing(period.start, now)
    return now - started < timedelta(milliseconds=period.duration_ms)


def _last_firing(expr: str, now: datetime) -> datetime:
    """The latest firing of ``expr`` at or before ``now`` (a firing exactly at ``now`` counts)."""
    after = now.replace(microsecond=0) + timedelta(seconds=1)
    fired: datetime = croniter(expr, after).get_prev(datetime)
    while fired > now:  # ``after`` rounded up past ``now``: step back once more
        fired = croniter(expr, fired).get_prev(datetime)
    return fired


def active_period(periods: Sequence[Period], now_ms: int) -> Period:
    """The last period of ``periods`` matching ``now_ms``; the base period if none does."""
    found = BASE_PERIOD
    for period in periods:
        if period_matches(period, now_ms):
            found = period
    return found
