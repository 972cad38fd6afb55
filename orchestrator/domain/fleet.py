"""The records of ``sluice.fleet``: the worker manager's decisions and its runners' lives.

``sluice pool`` appends them (key: the pool's name); ``sluice pool why`` reads them back to
explain each decision with what the policy saw. ``from``/``to`` of the issue are
``from_runners``/``to_runners`` here (``from`` is a Python keyword).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "FLEET_RECORD_TYPES",
    "PoolScaleDecided",
    "RunnerDraining",
    "RunnerStarted",
    "RunnerStopped",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolScaleDecided:
    """The pool's size was decided (up, down, or hold while replacing dead runners)."""

    pool: str
    decision_id: str
    direction: str
    from_runners: int
    to_runners: int
    reason: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    drained: tuple[str, ...] = ()
    killed: tuple[str, ...] = ()
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerStarted:
    """A runner process was started; ``images_warm``: every toolchain image was cached."""

    pool: str
    runner_id: str
    pid: int
    slots: int
    decision_id: str | None = None
    images_warm: bool
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerDraining:
    """A runner was asked to take no new job, finish its stages and exit."""

    pool: str
    runner_id: str
    decision_id: str | None = None
    reason: str
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerStopped:
    """A runner process ended; ``interrupted``: stages it was running then."""

    pool: str
    runner_id: str
    interrupted: int
    exit_code: int | None = None
    reason: str
    occurred_at_ms: int


FleetEvent = PoolScaleDecided | RunnerStarted | RunnerDraining | RunnerStopped
FLEET_RECORD_TYPES: tuple[type[FleetEvent], ...] = (
    PoolScaleDecided,
    RunnerStarted,
    RunnerDraining,
    RunnerStopped,
)
