"""The flaky-test rule: a flip on one commit, or a failure rate inside the band."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.flaky import FlakyRule, TestRun, judge, stage_only_flaky

commits = st.sampled_from(["c1", "c2", "c3", "c4"])


def _run(i: int, commit: str, *, failed: bool) -> TestRun:
    return TestRun(run_id=f"r{i}", commit_sha=commit, failed=failed, passed=not failed)


def _runs(outcomes: list[tuple[str, bool]]) -> list[TestRun]:
    return [_run(i, c, failed=f) for i, (c, f) in enumerate(outcomes)]


@given(st.lists(commits, max_size=60), st.booleans())
def test_a_test_that_always_fails_or_always_passes_is_never_flaky(
    on: list[str], failed: bool
) -> None:
    assert not judge(_runs([(c, failed) for c in on])).flaky


@given(st.lists(st.tuples(commits, st.booleans()), max_size=40), commits)
def test_failing_and_passing_on_one_commit_is_flaky(
    others: list[tuple[str, bool]], commit: str
) -> None:
    runs = _runs([(commit, True), *others, (commit, False)])
    verdict = judge(runs, FlakyRule(window=len(runs)))
    assert verdict.flaky
    assert commit in verdict.flipped_on


@given(st.integers(1, 100), st.integers(0, 100))
def test_on_distinct_commits_flaky_means_a_failure_rate_inside_the_band(
    runs: int, failures: int
) -> None:
    failures = min(failures, runs)
    history = [_run(i, f"c{i}", failed=i < failures) for i in range(runs)]
    verdict = judge(history, FlakyRule(window=100))
    assert verdict.flaky == (0.05 <= failures / runs <= 0.95)
    assert verdict.failure_rate == failures / runs


@given(st.lists(st.tuples(commits, st.booleans()), min_size=1, max_size=80))
def test_only_the_newest_runs_of_the_window_count(outcomes: list[tuple[str, bool]]) -> None:
    rule = FlakyRule(window=10)
    runs = _runs(outcomes)
    assert judge(runs, rule) == judge(runs[:10], rule)


def test_ten_percent_failures_over_fifty_runs_is_flaky() -> None:
    history = [_run(i, f"c{i}", failed=i % 10 == 0) for i in range(50)]
    verdict = judge(history)
    assert (verdict.flaky, verdict.failed_runs, verdict.runs) == (True, 5, 50)


@given(st.sets(st.sampled_from("abcdef"), min_size=1), st.sets(st.sampled_from("abcdef")))
def test_a_stage_whose_failures_are_all_flaky_is_only_flaky(
    failed: set[str], others: set[str]
) -> None:
    assert stage_only_flaky(failed, failed | others)


@given(st.sets(st.sampled_from("abcdef")), st.sets(st.sampled_from("abcdef")))
def test_one_failure_not_known_flaky_makes_the_stage_not_only_flaky(
    failed: set[str], flaky: set[str]
) -> None:
    assert not stage_only_flaky(failed | {"real"}, flaky)


def test_a_stage_with_no_failed_test_is_not_only_flaky() -> None:
    assert not stage_only_flaky([], ["a"])
