"""``evolve(state, event) -> state``: the pure fold of ``sluice.runs``.

It trusts nothing: an event that is illegal in the state raises
:class:`InvalidTransition`. The decider only ever appends events that are legal, so a
replay of ``sluice.runs`` never raises. The handlers live with their state machine:
:mod:`run_machine` and :mod:`stage_machine`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce

from orchestrator.domain.events import RunCreated, RunEvent, RunRejected
from orchestrator.domain.folding import Evolver, illegal
from orchestrator.domain.run_machine import RUN_HANDLERS, created, new_run
from orchestrator.domain.stage_machine import STAGE_HANDLERS
from orchestrator.domain.state import RunState

__all__ = ["evolve", "fold", "new_run"]

_EVOLVERS: dict[type, Evolver] = {**RUN_HANDLERS, **STAGE_HANDLERS}


def evolve(state: RunState | None, event: RunEvent) -> RunState | None:
    """The state after ``event``; raises :class:`InvalidTransition` if it is illegal."""
    if state is None:
        if isinstance(event, RunCreated):
            return created(event)
        if isinstance(event, RunRejected):
            return None
        raise illegal(event, "the run does not exist")
    if event.run_id != state.run_id:
        raise illegal(event, f"it belongs to run {event.run_id}, not {state.run_id}")
    handler = _EVOLVERS.get(type(event))
    if handler is None:
        raise illegal(event, f"a run that exists does not take {type(event).__name__}")
    return handler(state, event)


def fold(events: Iterable[RunEvent], state: RunState | None = None) -> RunState | None:
    """Every event applied in order to ``state`` (no state: from nothing)."""
    return reduce(evolve, events, state)
