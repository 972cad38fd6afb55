"""The priority of a run, derived from how it was triggered."""

from __future__ import annotations

from fnmatch import fnmatchcase

from orchestrator.domain.branches import normalise_branch
from orchestrator.domain.statuses import Priority, TriggerSource

__all__ = ["DEFAULT_BRANCHES", "RELEASE_BRANCHES", "derive_priority"]

RELEASE_BRANCHES = "release/*"
DEFAULT_BRANCHES = frozenset({"main", "master"})


def derive_priority(
    source: TriggerSource, branch: str, urgent: bool, pipeline_override: Priority | None
) -> Priority:
    """The run's priority.

    In order: the pipeline's own ``priority`` wins; a manual (API) trigger marked urgent is
    critical; scheduled (cron) builds and reruns are low; a ``release/*`` branch is
    critical; ``main``/``master`` is high; anything else (a feature-branch push) is normal.
    A stage's own ``priority`` then overrides this for that stage's jobs.
    """
    if pipeline_override is not None:
        return pipeline_override
    if urgent and source is TriggerSource.API:
        return Priority.CRITICAL
    if source in (TriggerSource.CRON, TriggerSource.RERUN):
        return Priority.LOW
    name = normalise_branch(branch)
    if fnmatchcase(name, RELEASE_BRANCHES):
        return Priority.CRITICAL
    if name in DEFAULT_BRANCHES:
        return Priority.HIGH
    return Priority.NORMAL
