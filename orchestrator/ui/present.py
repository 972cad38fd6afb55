"""What the pages show, computed from read-model rows: times, durations, the failure
summary above the fold, which stage's log opens first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "TERMINAL",
    "Failure",
    "ansi_free",
    "chosen_stage",
    "duration",
    "first_error",
    "span",
    "when",
]

Row = dict[str, Any]
TERMINAL = frozenset({"success", "failed", "cancelled"})
_ERROR = re.compile(r"error|fail|fatal|traceback|exception|panic", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Failure:
    """The failed stage shown above the fold: why, and the first error line of its log."""

    stage: str
    reason: str
    line_no: int | None
    line: str | None


def when(at: datetime | None) -> str:
    """A time as the pages show it (UTC, to the second), or a dash."""
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 04s``, ``5.2s``; a dash for None."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def span(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """The duration from ``start`` to ``end`` (to ``now`` while it goes on)."""
    if start is None:
        return "—"
    return duration(((end or now) - start).total_seconds())


def ansi_free(text: str) -> str:
    """``text`` without ANSI escape sequences."""
    return _ANSI.sub("", text)


def first_error(lines: Sequence[str]) -> tuple[int, str] | None:
    """The first line that reads like an error (1-based), else the last non-empty one."""
    for i, line in enumerate(lines):
        if _ERROR.search(ansi_free(line)):
            return i + 1, ansi_free(line)
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            return i + 1, ansi_free(lines[i])
    return None


def chosen_stage(stages: Sequence[Row], asked: str | None) -> Row | None:
    """The stage whose log opens: the one asked for, else the first failed, else the
    first running, else the last that started, else the first."""
    by_name = {s["name"]: s for s in stages}
    if asked in by_name:
        return by_name[asked]
    for status in ("failed", "running"):
        found = next((s for s in stages if s["status"] == status), None)
        if found:
            return found
    started = [s for s in stages if s["started_at"]]
    return started[-1] if started else (stages[0] if stages else None)
