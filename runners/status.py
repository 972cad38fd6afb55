"""A runner's status file: how the pool on the same host sees its runners' slots and liveness.

A runner started by ``sluice pool`` (``--status-file PATH``) rewrites one small JSON file
at most every 250 ms from its main loop: its slots, busy slots, whether it is draining,
since when it has been idle, and the time of writing. The write is atomic (a temporary
file renamed over the old one), so the pool never reads half a file. The time of writing
is the runner's heartbeat to the pool: a loop that hangs stops writing, and the pool kills
and replaces the runner after its ``heartbeat_timeout``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["RunnerStatus", "StatusFile", "read_status"]

_EVERY_MS = 250


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerStatus:
    """What a runner says about itself."""

    runner_id: str
    pid: int
    slots: int
    busy: int
    draining: bool
    idle_since_ms: int | None
    at_ms: int


class StatusFile:
    """Writes a runner's status to ``path`` when it changes, and at least every 250 ms."""

    def __init__(self, path: Path, *, runner_id: str, slots: int) -> None:
        """Prepare to write ``runner_id``'s status to ``path``."""
        self._path = path
        self._runner_id = runner_id
        self._slots = slots
        self._last: tuple[int, bool] | None = None
        self._written_ms = 0
        self._idle_since_ms: int | None = None

    def update(self, *, busy: int, draining: bool, force: bool = False) -> None:
        """Record the runner's state now (cheap when nothing changed and little time passed);
        ``force`` writes whatever (the last report, as the runner ends)."""
        now = time.time_ns() // 1_000_000
        if busy:
            self._idle_since_ms = None
        elif self._idle_since_ms is None:
            self._idle_since_ms = now
        if not force and (busy, draining) == self._last and now - self._written_ms < _EVERY_MS:
            return
        self._last, self._written_ms = (busy, draining), now
        status = RunnerStatus(
            runner_id=self._runner_id,
            pid=os.getpid(),
            slots=self._slots,
            busy=busy,
            draining=draining,
            idle_since_ms=self._idle_since_ms,
            at_ms=now,
        )
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(status)), encoding="utf-8")
        tmp.replace(self._path)


def read_status(path: Path) -> RunnerStatus | None:
    """The status in ``path``; None when there is none (yet) or it cannot be read."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return RunnerStatus(**raw)
    except (OSError, ValueError, TypeError):
        return None
