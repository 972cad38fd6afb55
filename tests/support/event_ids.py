"""The fields events share, typed, for tests that name them once and build events with
``StageClaimed(**ids, runner_id=...)``."""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "AttemptIds",
    "DeploymentAttemptIds",
    "DeploymentEventIds",
    "DeploymentIds",
    "StageEventIds",
    "StageNoteIds",
]


class AttemptIds(TypedDict):
    """One attempt of a stage of a run."""

    run_id: str
    stage: str
    attempt: int


class StageEventIds(AttemptIds):
    """An event of one attempt, at ``occurred_at_ms``."""

    occurred_at_ms: int


class StageNoteIds(TypedDict):
    """An event about a stage rather than one attempt of it, at ``occurred_at_ms``."""

    run_id: str
    occurred_at_ms: int
    stage: str


class DeploymentIds(TypedDict):
    """One deployment to one environment."""

    deployment_id: str
    environment: str


class DeploymentAttemptIds(AttemptIds, DeploymentIds):
    """One deployment made by one attempt of a deploy stage."""


class DeploymentEventIds(StageEventIds, DeploymentIds):
    """An event of one deployment, at ``occurred_at_ms``."""
