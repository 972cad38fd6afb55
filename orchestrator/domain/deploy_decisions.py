"""When a person's decision about a deployment under way counts: promote or abort.

Pure rules the decider's fence applies to :class:`DeploymentPromoted` and
:class:`DeploymentAborted` arriving on the inbox, over the deployment events the stage has
recorded. A promote answers one :class:`DeploymentPaused` (by its ``step``) once; an abort
stops a deployment that has started and not ended, once. Anything else is refused with a
reason (a late click after the deployment ended, a second click, a promote of a pause that
never happened).
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.domain.events import (
    DeploymentAborted,
    DeploymentFailed,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    RunEvent,
)

__all__ = ["abort_problem", "paused_at", "promote_problem"]

_ENDED = (DeploymentSucceeded, DeploymentFailed, DeploymentRolledBack)


def _of(recorded: Sequence[RunEvent], deployment_id: str) -> list[RunEvent]:
    return [e for e in recorded if getattr(e, "deployment_id", None) == deployment_id]


def _open_problem(mine: list[RunEvent], deployment_id: str) -> str | None:
    if not any(isinstance(e, DeploymentStarted) for e in mine):
        return f"deployment {deployment_id} has not started"
    if any(isinstance(e, _ENDED) for e in mine):
        return f"deployment {deployment_id} has already ended"
    if any(isinstance(e, DeploymentAborted) for e in mine):
        return f"deployment {deployment_id} is already being aborted"
    return None


def paused_at(recorded: Sequence[RunEvent], deployment_id: str) -> DeploymentPaused | None:
    """The pause of the deployment that waits for an answer now, if any."""
    mine = _of(recorded, deployment_id)
    if _open_problem(mine, deployment_id) is not None:
        return None
    answered = {e.step for e in mine if isinstance(e, DeploymentPromoted)}
    pauses = [e for e in mine if isinstance(e, DeploymentPaused) and e.step not in answered]
    return pauses[-1] if pauses else None


def promote_problem(recorded: Sequence[RunEvent], message: DeploymentPromoted) -> str | None:
    """Why ``message`` does not count (None: it promotes the pause it names)."""
    mine = _of(recorded, message.deployment_id)
    problem = _open_problem(mine, message.deployment_id)
    if problem is not None:
        return problem
    waiting = paused_at(recorded, message.deployment_id)
    if waiting is None or waiting.step != message.step:
        return f"deployment {message.deployment_id} is not paused at step {message.step}"
    return None


def abort_problem(recorded: Sequence[RunEvent], message: DeploymentAborted) -> str | None:
    """Why ``message`` does not count (None: the deployment is under way and is aborted)."""
    return _open_problem(_of(recorded, message.deployment_id), message.deployment_id)
