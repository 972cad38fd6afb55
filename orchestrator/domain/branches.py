"""Branch names and the glob patterns of ``when.branches``."""

from __future__ import annotations

from fnmatch import fnmatchcase

from orchestrator.domain.model import WhenRule

__all__ = ["branch_allowed", "normalise_branch"]

_HEADS = "refs/heads/"


def normalise_branch(branch: str) -> str:
    """``refs/heads/main`` → ``main``; other names are returned unchanged."""
    return branch[len(_HEADS) :] if branch.startswith(_HEADS) else branch


def branch_allowed(when: WhenRule, branch: str) -> bool:
    """Whether a stage with this rule runs on ``branch`` (no patterns = every branch)."""
    if not when.branches:
        return True
    name = normalise_branch(branch)
    return any(fnmatchcase(name, pattern) for pattern in when.branches)
