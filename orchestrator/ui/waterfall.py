"""The waterfall of a run: per stage attempt, how long it waited for a runner and how long
it ran, from the times on its events (pure: the page hands it the decoded history)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Bar", "bars"]

_ENDS = {
    "StageSucceeded": "success",
    "StageFailed": "failed",
    "StageCancelled": "cancelled",
    "StageLeaseExpired": "failed",
    "StageStartTimedOut": "failed",
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt: queued at, claimed at (None: never), ended at (None: still going)."""

    stage: str
    attempt: int
    queued_ms: int
    claimed_ms: int | None
    ended_ms: int | None
    outcome: str


def bars(events: Iterable[tuple[str, str, int, int]]) -> list[Bar]:
    """Bars in the order attempts were queued, from ``(event, stage, attempt, at_ms)``."""
    open_: dict[tuple[str, int], Bar] = {}
    done: list[Bar] = []
    for event, stage, attempt, at in events:
        key = (stage, attempt)
        if event == "StageQueued" and key not in open_:
            open_[key] = Bar(stage, attempt, at, None, None, "waiting")
        elif key not in open_:
            continue
        elif event == "StageClaimed":
            b = open_[key]
            open_[key] = Bar(stage, attempt, b.queued_ms, at, None, "running")
        elif event in _ENDS:
            b = open_.pop(key)
            done.append(Bar(stage, attempt, b.queued_ms, b.claimed_ms, at, _ENDS[event]))
    return sorted([*done, *open_.values()], key=lambda b: (b.queued_ms, b.stage, b.attempt))
