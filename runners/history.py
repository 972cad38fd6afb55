"""Test history in PostgreSQL: what each attempt's JUnit report said, and known flaky tests.

A test seen failing in one attempt of a stage and passing in another attempt of the same
stage of the same run (same commit) is flaky: it is recorded in ``flaky_tests`` so that
later failures of it, in any run of the pipeline, are classified flaky too. So is a test
that :func:`orchestrator.domain.flaky.judge` finds flaky over its recent runs
(:func:`recent_test_runs`: per run, whether it failed and whether it passed, with the run's
commit from the read model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from orchestrator.domain.flaky import FlakyRule, Judgement, TestRun, judge
from runners.classify import JUnitResults
from schemas.errors import InfrastructureError
from schemas.pg import DatabaseUnavailable, connect

__all__ = ["AttemptRef", "TestHistory", "TestHistoryError", "judged_flaky", "recent_test_runs"]


class TestHistoryError(InfrastructureError):
    """The test-history tables could not be read or written."""


@dataclass(frozen=True, slots=True)
class AttemptRef:
    """Which stage attempt of which run of which pipeline."""

    pipeline_id: str
    run_id: str
    stage: str
    attempt: int


class TestHistory:
    """The ``test_outcomes`` and ``flaky_tests`` tables of ``schema``."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, *, dsn: str, schema: str = "public") -> None:
        """Use the database at ``dsn``."""
        self._dsn = dsn
        self._schema = schema

    def context(
        self, ref: AttemptRef, failed: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Of ``failed``: those that passed in an earlier attempt, and those known flaky."""
        if not failed:
            return frozenset(), frozenset()
        with self._connect() as conn:
            before = conn.execute(
                "SELECT test_name FROM test_outcomes WHERE run_id = %s AND stage = %s"
                " AND attempt < %s AND passed AND test_name = ANY(%s)",
                (ref.run_id, ref.stage, ref.attempt, sorted(failed)),
            ).fetchall()
            known = conn.execute(
                "SELECT test_name FROM flaky_tests WHERE pipeline_id = %s AND test_name = ANY(%s)",
                (ref.pipeline_id, sorted(failed)),
            ).fetchall()
            by_rate = judged_flaky(conn, ref.pipeline_id, FlakyRule(), tests=sorted(failed))
        known_flaky = {r[0] for r in known} | set(by_rate)
        return frozenset(r[0] for r in before), frozenset(known_flaky)

    def record(self, ref: AttemptRef, results: JUnitResults) -> None:
        """Store this attempt's outcomes and mark tests that flipped since earlier attempts."""
        outcomes: list[tuple[str, bool | None]] = [
            *((t, True) for t in results.passed),
            *((t, False) for t in results.failed),
            *((t, None) for t in results.skipped),
        ]
        if not outcomes:
            return
        d = results.durations_ms
        rows = [(t, p, d.get(t)) for t, p in outcomes]
        with self._connect() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO test_outcomes (pipeline_id, run_id, stage, attempt, test_name,"
                    " passed, duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [
                        (ref.pipeline_id, ref.run_id, ref.stage, ref.attempt, t, p, ms)
                        for t, p, ms in rows
                    ],
                )
            conn.execute(
                "INSERT INTO flaky_tests (pipeline_id, test_name)"
                " SELECT DISTINCT %s, now.test_name FROM test_outcomes now JOIN test_outcomes"
                " earlier USING (run_id, stage, test_name) WHERE now.run_id = %s"
                " AND now.stage = %s AND now.attempt = %s AND earlier.attempt < now.attempt"
                " AND earlier.passed <> now.passed"
                " ON CONFLICT (pipeline_id, test_name) DO UPDATE"
                " SET flips = flaky_tests.flips + 1, last_seen_at = now()",
                (ref.pipeline_id, ref.run_id, ref.stage, ref.attempt),
            )

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with connect(
                self._dsn, schema=self._schema, name="sluice-test-history", autocommit=False
            ) as conn:
                yield conn
        except (psycopg.Error, DatabaseUnavailable) as e:
            raise TestHistoryError(f"the test history (PostgreSQL) failed: {e}") from e


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
        " SELECT o.test_name, o.run_id, r.commit_sha, bool_or(NOT o.passed) AS failed,"
        "  bool_or(o.passed) AS passed, row_number() OVER (PARTITION BY o.test_name"
        "  ORDER BY max(r.created_at) DESC, o.run_id DESC) AS n"
        " FROM test_outcomes o JOIN pipeline_runs r USING (run_id)"
        " WHERE o.pipeline_id = %s AND o.passed IS NOT NULL"
        "  AND (%s::text[] IS NULL OR o.test_name = ANY(%s))"
        " GROUP BY o.test_name, o.run_id, r.commit_sha) per_run"
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
    recent = recent_test_runs(conn, pipeline_id, rule.window, tests=tests)
    judged = {test: judge(runs, rule) for test, runs in recent.items()}
    return {test: j for test, j in judged.items() if j.flaky}
