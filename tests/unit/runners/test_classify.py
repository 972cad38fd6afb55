"""How a finished container is judged: success, and the three failure classes."""

from __future__ import annotations

from orchestrator.domain.statuses import FailureClass
from runners.classify import (
    Exit,
    JUnitResults,
    classify,
    parse_go_test_json,
    parse_junit,
    parse_report,
)

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


def test_a_known_flaky_failure_beside_a_real_one_is_deterministic() -> None:
    junit = JUnitResults(failed=frozenset({"t.a", "t.b"}))
    end = Exit(exit_code=1, junit=junit, known_flaky=frozenset({"t.a"}))
    verdict = classify(end)
    assert verdict.failure_class == FailureClass.DETERMINISTIC
    assert "t.a, t.b" in verdict.reason


def test_a_failed_test_with_no_flaky_history_is_deterministic() -> None:
    junit = JUnitResults(failed=frozenset({"t.a"}), passed=frozenset({"t.b"}))
    end = Exit(exit_code=1, junit=junit, passed_before=frozenset({"t.b"}))
    assert classify(end).failure_class == FailureClass.DETERMINISTIC


def test_a_junit_report_splits_passed_from_failed_and_errored_tests() -> None:
    results = parse_junit(REPORT)
    assert (results.passed, results.failed) == (
        frozenset({"t.ok"}),
        frozenset({"t.broken", "t.crashed"}),
    )


def test_an_unreadable_junit_report_has_no_tests() -> None:
    assert parse_junit(b"<not xml") == JUnitResults()


PYTEST_REPORT = b"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_calc" name="test_add" time="0.012"><failure message="x"/></testcase>
<testcase classname="tests.test_calc" name="test_ok" time="0.5"/>
<testcase classname="tests.test_calc" name="test_later" time="0"><skipped/></testcase>
</testsuite></testsuites>"""

GO_TEST_JSON = b"""{"Action":"run","Package":"example.com/calc","Test":"TestAdd"}
{"Action":"output","Package":"example.com/calc","Test":"TestAdd","Output":"--- FAIL\\n"}
{"Action":"fail","Package":"example.com/calc","Test":"TestAdd","Elapsed":0.01}
{"Action":"pass","Package":"example.com/calc","Test":"TestSub","Elapsed":0}
{"Action":"skip","Package":"example.com/calc","Test":"TestSlow","Elapsed":0}
{"Action":"fail","Package":"example.com/calc","Elapsed":0.02}
"""


def test_a_pytest_report_gives_skipped_tests_and_durations() -> None:
    results = parse_report(PYTEST_REPORT)

    assert results.failed == {"tests.test_calc.test_add"}
    assert results.passed == {"tests.test_calc.test_ok"}
    assert results.skipped == {"tests.test_calc.test_later"}
    assert results.durations_ms["tests.test_calc.test_ok"] == 500


def test_go_test_json_is_read_as_a_report() -> None:
    results = parse_report(GO_TEST_JSON)

    assert results.failed == {"example.com/calc.TestAdd"}
    assert results.passed == {"example.com/calc.TestSub"}
    assert results.skipped == {"example.com/calc.TestSlow"}
    assert results.durations_ms["example.com/calc.TestAdd"] == 10


def test_go_test_json_with_a_build_error_line_keeps_the_events() -> None:
    results = parse_go_test_json(b"# example.com/calc\n./calc.go:3: syntax error\n" + GO_TEST_JSON)

    assert results.failed == {"example.com/calc.TestAdd"}


def test_a_deterministic_failure_names_its_failed_tests() -> None:
    verdict = classify(Exit(exit_code=1, junit=parse_report(PYTEST_REPORT)))

    assert verdict.reason == "script exited with code 1; failed test(s): tests.test_calc.test_add"
