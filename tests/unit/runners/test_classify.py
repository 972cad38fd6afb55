"""How a finished container is judged: success, and the three failure classes."""

from __future__ import annotations

from orchestrator.domain.statuses import FailureClass
from runners.classify import Exit, JUnitResults, classify, parse_junit

REPORT = b"""<testsuites><testsuite name="s">
  <testcase classname="t" name="ok"/>
  <testcase classname="t" name="broken"><failure message="boom"/></testcase>
  <testcase classname="t" name="crashed"><error/></testcase>
  <testcase classname="t" name="later"><skipped/></testcase>
</testsuite></testsuites>"""


def test_exit_zero_succeeds() -> None:
    assert classify(Exit(exit_code=0)).succeeded


def test_a_non_zero_exit_is_deterministic_and_names_the_code() -> None:
    verdict = classify(Exit(exit_code=3))
    assert (verdict.failure_class, verdict.reason) == (
        FailureClass.DETERMINISTIC,
        "script exited with code 3",
    )


def test_an_oom_kill_is_infrastructure() -> None:
    assert classify(Exit(exit_code=137, oom_killed=True)).failure_class == (
        FailureClass.INFRASTRUCTURE
    )


def test_a_timeout_is_deterministic_and_says_after_how_long() -> None:
    verdict = classify(Exit(exit_code=None, timed_out_after_ms=1500))
    assert (verdict.failure_class, verdict.reason) == (
        FailureClass.DETERMINISTIC,
        "timed out after 1.5 s",
    )


def test_a_failed_test_that_passed_in_an_earlier_attempt_is_flaky() -> None:
    junit = JUnitResults(failed=frozenset({"t.a"}))
    end = Exit(exit_code=1, junit=junit, passed_before=frozenset({"t.a"}))
    assert classify(end).failure_class == FailureClass.FLAKY


def test_a_failed_test_known_flaky_from_history_is_flaky() -> None:
    junit = JUnitResults(failed=frozenset({"t.a"}))
    end = Exit(exit_code=1, junit=junit, known_flaky=frozenset({"t.a"}))
    assert classify(end).failure_class == FailureClass.FLAKY


def test_a_failed_test_with_no_flaky_history_is_deterministic() -> None:
    junit = JUnitResults(failed=frozenset({"t.a"}), passed=frozenset({"t.b"}))
    end = Exit(exit_code=1, junit=junit, passed_before=frozenset({"t.b"}))
    assert classify(end).failure_class == FailureClass.DETERMINISTIC


def test_a_junit_report_splits_passed_from_failed_and_errored_tests() -> None:
    results = parse_junit(REPORT)
    assert (results.passed, results.failed) == ({"t.ok"}, {"t.broken", "t.crashed"})


def test_an_unreadable_junit_report_has_no_tests() -> None:
    assert parse_junit(b"<not xml") == JUnitResults()
