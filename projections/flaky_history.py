"""Reading the test history that :mod:`projections.junit_outcomes` folds from ``sluice.tests``.

:func:`recent_test_runs` gives, per test, its last ``window`` runs on a pipeline (newest first,
by when each run reported it; skipped outcomes left out) with each run's commit and whether
it failed and/or passed there; :func:`judged_flaky` hands them to
:func:`orchestrator.domain.flaky.judge`. Only the projection's own table is read, so the fold
that calls these gives the same answer on every replay.
"""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain.flaky import FlakyRule, Judgement, TestRun, judge

__all__ = ["judge_tests", "judged_flaky", "recent_test_runs"]


def recent_test_runs(
    conn: psycopg.Connection[Any],
    pipeline_id: str,
    window: int,
    *,
    tests: list[str] | None = None,
) -> dict[str, list[TestRun]]:
    """Each test's last ``window`` runs on the pipeline, newest first (skips left out)."""
    rows = conn.execute(
        "SELECT test_name, run_id, commit_sha, failed, passed FROM ("
        " SELECT test_name, run_id, max(commit_sha) AS commit_sha,"
        "  bool_or(NOT passed) AS failed, bool_or(passed) AS passed,"
        "  row_number() OVER (PARTITION BY test_name"
        "  ORDER BY max(reported_at) DESC, run_id DESC) AS n"
        " FROM test_outcomes WHERE pipeline_id = %s AND passed IS NOT NULL"
        "  AND (%s::text[] IS NULL OR test_name = ANY(%s))"
        " GROUP BY test_name, run_id) per_run"
        " WHERE n <= %s ORDER BY test_name, n",
        (pipeline_id, tests, tests, window),
    ).fetchall()
    runs: dict[str, list[TestRun]] = {}
    for test, run_id, commit, failed, passed in rows:
        runs.setdefault(test, []).append(TestRun(run_id, commit, failed, passed))
    return runs


def judged_flaky(
    conn: psycopg.Connection[Any],
    pipeline_id: str,
    rule: FlakyRule,
    *,
    tests: list[str] | None = None,
) -> dict[str, Judgement]:
    """The pipeline's tests (of ``tests`` if given) that ``rule`` finds flaky, by name."""
    return {t: j for t, j in judge_tests(conn, pipeline_id, rule, tests=tests).items() if j.flaky}


def judge_tests(
    conn: psycopg.Connection[Any],
    pipeline_id: str,
    rule: FlakyRule,
    *,
    tests: list[str] | None = None,
) -> dict[str, Judgement]:
    """``rule``'s judgement of each of the pipeline's tests (of ``tests`` if given) that ran."""
    recent = recent_test_runs(conn, pipeline_id, rule.window, tests=tests)
    return {test: judge(runs, rule) for test, runs in recent.items()}
