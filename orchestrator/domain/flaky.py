"""When a test is flaky: the rule, pure (no I/O, no clock).

A test is flaky on a pipeline when, over its last ``window`` runs (default 50):

* it both failed and passed on the same commit (a retry flipped it, or two runs of one
  commit disagreed); or
* its failure rate (runs in which it failed / runs in which it ran) lies between ``low`` and
  ``high`` (default 5 % and 95 %, both included): it fails now and then, neither always nor
  never, which is what the source design calls flaky ("fails 10 % of the time").

A run counts as failed for a test when any attempt of it saw the test fail; skipped
outcomes are not given to the rule. Given the outcomes, :func:`judge` decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FlakyRule", "Judgement", "TestRun", "judge", "stage_only_flaky"]


@dataclass(frozen=True, slots=True)
class FlakyRule:
    """The thresholds: how many recent runs, and the failure-rate band that is flaky."""

    window: int = 50
    low: float = 0.05
    high: float = 0.95


@dataclass(frozen=True, slots=True)
class TestRun:
    """What one run saw of one test: its commit, and whether it failed and/or passed."""

    __test__ = False  # not a pytest test class, despite its name

    run_id: str
    commit_sha: str
    failed: bool
    passed: bool


@dataclass(frozen=True, slots=True)
class Judgement:
    """The rule's answer for one test, with the figures behind it."""

    flaky: bool
    runs: int
    failed_runs: int
    flipped_on: tuple[str, ...]  # commits on which it both failed and passed

    @property
    def failure_rate(self) -> float:
        """Failed runs / runs (0 when it never ran)."""
        return self.failed_runs / self.runs if self.runs else 0.0


def judge(newest_first: Iterable[TestRun], rule: FlakyRule = FlakyRule()) -> Judgement:
    """Judge one test from its runs, newest first (only the first ``rule.window`` count)."""
    runs = list(newest_first)[: rule.window]
    failed = [r for r in runs if r.failed]
    flipped = _flipped_commits(runs)
    rate = len(failed) / len(runs) if runs else 0.0
    in_band = bool(runs) and rule.low <= rate <= rule.high
    return Judgement(bool(flipped) or in_band, len(runs), len(failed), flipped)


def _flipped_commits(runs: list[TestRun]) -> tuple[str, ...]:
    failed_on = {r.commit_sha for r in runs if r.failed}
    passed_on = {r.commit_sha for r in runs if r.passed}
    return tuple(sorted(failed_on & passed_on))


def stage_only_flaky(failed: Iterable[str], flaky: Iterable[str]) -> bool:
    """Whether a stage's failed tests are all known flaky (and there is at least one)."""
    failing = set(failed)
    return bool(failing) and failing <= set(flaky)
