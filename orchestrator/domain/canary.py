"""Canary decisions: how much weight gives a canary its share, and what its counts say.

Pure functions; the deployer reads HAProxy's per-server counters and asks :func:`verdict`.
Fewer than ``min_requests`` answers is *inconclusive*, never a pass: a canary that got no
traffic has proven nothing.
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.domain.model import CanaryAnalysis

__all__ = ["MAX_WEIGHT", "STABLE_WEIGHT", "Verdict", "canary_weight", "verdict"]

STABLE_WEIGHT = 100
MAX_WEIGHT = 256  # HAProxy's largest server weight


class Verdict(StrEnum):
    """What one analysis of a canary step concluded."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def verdict(requests: int, errors: int, analysis: CanaryAnalysis) -> Verdict:
    """The canary's verdict from its answers (``errors``: 5xx or failed) since the step began.

    Failing fast is allowed as soon as ``min_requests`` answers exist; so is passing.
    """
    if requests < analysis.min_requests:
        return Verdict.INCONCLUSIVE
    if errors / requests > analysis.max_error_rate:
        return Verdict.FAIL
    return Verdict.PASS


def canary_weight(stable_instances: int, percent: int) -> int:
    """The canary server's weight that gives it ``percent`` of the traffic beside
    ``stable_instances`` servers at :data:`STABLE_WEIGHT` (capped at HAProxy's maximum)."""
    if percent <= 0:
        return 0
    if percent >= 100 or stable_instances == 0:
        return MAX_WEIGHT
    wanted = percent * stable_instances * STABLE_WEIGHT / (100 - percent)
    return max(1, min(MAX_WEIGHT, round(wanted)))
