"""Branch names, and whether a stage's ``when`` lets it run in a given run.

``when.branches``, ``when.tags`` and ``when.events`` combine like this:

* ``events`` (empty = every kind): the run's kind (branch, tag, merge_request) must be listed;
* ``branches`` and ``tags`` restrict refs. A branch or merge request run needs its branch
  (a merge request's source branch) to match ``branches``; a tag run needs its tag to match
  ``tags``. With only ``branches`` set, tag runs are excluded; with only ``tags`` set,
  branch and merge request runs are; with neither, every ref runs.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from orchestrator.domain.model import WhenRule
from orchestrator.domain.refs import BRANCH_RUN, RunRef
from orchestrator.domain.statuses import PipelineEvent

__all__ = ["branch_allowed", "normalise_branch", "when_excludes"]

_HEADS = "refs/heads/"


def normalise_branch(branch: str) -> str:
    """``refs/heads/main`` → ``main``; other names are returned unchanged."""
    return branch[len(_HEADS) :] if branch.startswith(_HEADS) else branch


def branch_allowed(when: WhenRule, branch: str, ref: RunRef = BRANCH_RUN) -> bool:
    """Whether a stage with this rule runs in a run of ``branch`` (and ``ref``)."""
    return when_excludes(when, branch, ref) is None


def when_excludes(when: WhenRule, branch: str, ref: RunRef = BRANCH_RUN) -> str | None:
    """Why a stage with this rule does not run in this run, or None when it does."""
    if when.events and ref.event not in when.events:
        listed = ", ".join(e.value for e in when.events)
        return f"a {ref.event.value} run does not match when.event ({listed})"
    if ref.event is PipelineEvent.TAG:
        return _tag_excludes(when, ref.tag or normalise_branch(branch))
    if when.tags and not when.branches:
        return f"a {ref.event.value} run has no tag to match when.tags ({', '.join(when.tags)})"
    name = normalise_branch(branch)
    if when.branches and not any(fnmatchcase(name, p) for p in when.branches):
        return f"branch {branch!r} does not match when.branches ({', '.join(when.branches)})"
    return None


def _tag_excludes(when: WhenRule, tag: str) -> str | None:
    if when.tags:
        if any(fnmatchcase(tag, p) for p in when.tags):
            return None
        return f"tag {tag!r} does not match when.tags ({', '.join(when.tags)})"
    if when.branches:
        return f"a tag run has no branch to match when.branches ({', '.join(when.branches)})"
    return None
