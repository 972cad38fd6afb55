"""Shared steps of the two state machines' handlers (run_machine, stage_machine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.domain.errors import InvalidTransition
from orchestrator.domain.events import RunEvent
from orchestrator.domain.frozen import replace
from orchestrator.domain.state import RunState, StageState
from orchestrator.domain.statuses import (
    RunStatus,
    StageStatus,
    check_run_transition,
    check_stage_transition,
)

__all__ = [
    "Evolver",
    "Handlers",
    "illegal",
    "move",
    "put",
    "reopen",
    "reopens",
    "run_to",
    "stage_of",
]

E = TypeVar("E")
Evolver = Callable[[RunState, Any], RunState]


class Handlers(dict[type, Evolver]):
    """Event type → handler; ``@handlers.on(Kind)`` registers one."""

    def on(self, kind: type[E]) -> Callable[[Callable[[RunState, E], RunState]], Evolver]:
        """Register the decorated function as the handler of ``kind``."""

        def register(handler: Callable[[RunState, E], RunState]) -> Evolver:
            self[kind] = handler
            return handler

        return register


def illegal(event: RunEvent, detail: str, subject: str | None = None) -> InvalidTransition:
    """The error for an event that is illegal in the state."""
    stage = getattr(event, "stage", None)
    where = subject or (
        f"stage {stage!r} of run {event.run_id}" if stage else f"run {event.run_id}"
    )
    return InvalidTransition(type(event).__name__, where, detail)


def stage_of(state: RunState, event: Any, *, attempt: bool = True) -> StageState:
    """The event's stage; with ``attempt``, it must be at the event's attempt."""
    found = state.stages.get(event.stage)
    if found is None:
        raise illegal(event, "no such stage")
    if attempt and event.attempt != found.attempt:
        raise illegal(event, f"attempt {event.attempt}, but the stage is at {found.attempt}")
    return found


def move(event: RunEvent, stage: StageState, target: StageStatus) -> None:
    """Raise unless the stage table allows the stage to go to ``target``."""
    check_stage_transition(type(event).__name__, stage.name, stage.status, target)


def put(state: RunState, *stages: StageState) -> RunState:
    """The run with ``stages`` replaced."""
    updated = dict(state.stages)
    for stage in stages:
        updated[stage.name] = stage
    return replace(state, stages=updated)


def run_to(state: RunState, event: RunEvent, target: RunStatus, **changes: Any) -> RunState:
    """The run moved to ``target`` (the run table permitting), with ``changes``."""
    check_run_transition(type(event).__name__, state.run_id, state.status, target)
    return replace(state, status=target, **changes)


def reopens(status: RunStatus) -> bool:
    """Whether a person's request on a run in ``status`` makes it run again (it finished)."""
    return status.terminal


def reopen(state: RunState, event: RunEvent) -> RunState:
    """A person's request on a finished run makes it run again."""
    if not reopens(state.status):
        return state
    return run_to(
        state, event, RunStatus.RUNNING, finished_at_ms=None, reason=None, failed_stages=()
    )
