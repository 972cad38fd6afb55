"""Durations ("90s", "10m", "1h30m", "30d") and sizes ("512Mi", "2G") as people write them."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration_ms", "parse_size_bytes"]

_DURATION_UNITS_MS = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
_DURATION_PART = re.compile(r"\s*(\d+)\s*(ms|s|m|h|d|w)")
_DURATION_WHOLE = re.compile(r"(\s*\d+\s*(ms|s|m|h|d|w))+\s*")

_SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(|k|K|M|G|T|Ki|Mi|Gi|Ti)\s*")


def parse_duration_ms(text: str | int) -> int:
    """Milliseconds in a duration: one or more ``<int><unit>`` parts (ms, s, m, h, d, w).

    A bare integer means seconds. Raises ValueError on anything else.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative duration: {text}")
        return text * 1_000
    if not isinstance(text, str) or not _DURATION_WHOLE.fullmatch(text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _DURATION_UNITS_MS[u] for n, u in _DURATION_PART.findall(text))


def parse_size_bytes(text: str | int) -> int:
    """Bytes in a size: a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti).

    Raises ValueError on anything else.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative size: {text}")
        return text
    match = _SIZE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    return round(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(ms: int) -> str:
    """The shortest readable form of a duration, e.g. ``1h30m`` or ``250ms``."""
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _DURATION_UNITS_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)
