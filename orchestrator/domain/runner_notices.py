"""Which runner must hear of which decided event: its claim accepted, its attempt taken away.

A runner acts on few of the events of ``sluice.runs``: the decider accepted its claim (the
attempt may start), the lease of an attempt it holds expired, or an attempt it holds was
cancelled. The decider copies exactly those, addressed to the runner concerned, to
``sluice.runner-notices`` in the transaction that appends them, so that no runner has to
read every event of every run to find its own. A claim the decider does not accept is
answered too (:func:`claim_refused`), so that the runner's slot is free at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.events import (
    RunEvent,
    StageCancelled,
    StageClaimed,
    StageLeaseExpired,
)
from orchestrator.domain.records import ClaimRefused
from orchestrator.domain.state import RunState
from orchestrator.domain.statuses import StageStatus

__all__ = ["Notice", "claim_refused", "runner_notices"]

Notice = tuple[str, int]  # the runner, the index of the event in the decision's events


def runner_notices(before: RunState | None, events: Sequence[RunEvent]) -> tuple[Notice, ...]:
    """The runners to tell of ``events`` (appended in this order to a run that was
    ``before``): each ``StageClaimed`` to its runner, a ``StageLeaseExpired`` naming a runner
    to it, a ``StageCancelled`` to the runner holding that attempt. (A run is cancelled by
    cancelling each of its live stages first, so ``RunCancelled`` tells no runner more.)"""
    holders: dict[tuple[str, int], str] = {}  # (stage, attempt) → the runner holding it
    if before is not None:
        for stage in before.in_status(StageStatus.RUNNING):
            if stage.runner_id is not None:
                holders[(stage.name, stage.attempt)] = stage.runner_id
    notices: list[Notice] = []
    for index, event in enumerate(events):
        match event:
            case StageClaimed():
                holders[(event.stage, event.attempt)] = event.runner_id
                notices.append((event.runner_id, index))
            case StageLeaseExpired() | StageCancelled():
                holder = holders.pop((event.stage, event.attempt), None)
                runner = event.runner_id if isinstance(event, StageLeaseExpired) else holder
                if runner is not None:
                    notices.append((runner, index))
            case _:
                pass
    return tuple(notices)


def claim_refused(message: RunEvent, ignored_reason: str | None) -> ClaimRefused | None:
    """The answer to the runner whose ``StageClaimed`` the decider ignored for
    ``ignored_reason``; None when ``message`` is not a claim or was accepted."""
    if not isinstance(message, StageClaimed) or ignored_reason is None:
        return None
    return ClaimRefused(
        run_id=message.run_id,
        stage=message.stage,
        attempt=message.attempt,
        runner_id=message.runner_id,
        reason=ignored_reason,
        occurred_at_ms=message.occurred_at_ms,
    )
