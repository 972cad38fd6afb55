"""A stage's log as numbered lines, for the windowed log view: ranges and search.

An archived log never changes, so its lines are kept in a small per-process cache (a
million-line log is read from MinIO once, not on every scroll); a log still being written
is read from Kafka each time (``orchestrator.api.logs.log_text``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from orchestrator.api.context import Context
from orchestrator.api.logs import log_text

__all__ = ["LogLines", "lines_of", "plain", "search"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CACHED = 4
_cache: OrderedDict[str, list[str]] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LogLines:
    """A stage's log split into lines (without their newlines)."""

    lines: list[str]
    archived: bool


def split(text: str) -> list[str]:
    """The lines of ``text`` (a final newline ends the last line, it adds none)."""
    if not text:
        return []
    return text.removesuffix("\n").split("\n")


def lines_of(ctx: Context, run: dict[str, Any], stage: dict[str, Any]) -> LogLines:
    """The lines of one stage's log (cached once archived)."""
    path = stage["log_path"]
    if not path:
        return LogLines(split(log_text(ctx, run, [stage])), archived=False)
    with _lock:
        if path in _cache:
            _cache.move_to_end(path)
            return LogLines(_cache[path], archived=True)
    lines = split(log_text(ctx, run, [stage]))
    with _lock:
        _cache[path] = lines
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return LogLines(lines, archived=True)


def plain(line: str) -> str:
    """``line`` without ANSI escape sequences."""
    return _ANSI.sub("", line)


def search(lines: list[str], query: str, limit: int) -> tuple[list[int], int]:
    """1-based numbers of the first ``limit`` lines containing ``query`` (any case, colours
    ignored), and how many lines match in all."""
    needle = query.casefold()
    found = [i + 1 for i, line in enumerate(lines) if needle in plain(line).casefold()]
    return found[:limit], len(found)
