"""What a runner appends to sluice.tests for a JUnit report (pure)."""

from __future__ import annotations

from runners.classify import JUnitResults
from runners.history import MAX_TESTS_PER_REPORT, AttemptRef, outcome_reports

REF = AttemptRef("p1", "r1", "unit", 2)


def test_each_test_is_reported_passed_failed_or_skipped_with_its_duration() -> None:
    results = JUnitResults(
        passed=frozenset({"t.b"}),
        failed=frozenset({"t.a"}),
        skipped=frozenset({"t.c"}),
        durations_ms={"t.a": 12},
    )
    [report] = outcome_reports(REF, "c" * 40, results, 5)
    assert (report.pipeline_id, report.run_id, report.stage, report.attempt) == (
        "p1",
        "r1",
        "unit",
        2,
    )
    assert [(t.name, t.passed, t.duration_ms) for t in report.tests] == [
        ("t.a", False, 12),
        ("t.b", True, None),
        ("t.c", None, None),
    ]


def test_a_big_report_is_split_into_slices_that_keep_every_test_once() -> None:
    names = frozenset(f"t.{i:05d}" for i in range(2 * MAX_TESTS_PER_REPORT + 1))
    reports = outcome_reports(REF, "c" * 40, JUnitResults(passed=names), 5)
    assert [len(r.tests) for r in reports] == [MAX_TESTS_PER_REPORT, MAX_TESTS_PER_REPORT, 1]
    assert sorted(t.name for r in reports for t in r.tests) == sorted(names)


def test_an_empty_report_appends_nothing() -> None:
    assert outcome_reports(REF, "c" * 40, JUnitResults(), 5) == []
