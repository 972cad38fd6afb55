"""Test history: what a runner reports of a JUnit report, and what it reads back.

A runner never writes the history tables. It appends each attempt's per-test outcomes to
``sluice.tests`` (:func:`outcome_reports`, sent acknowledged by the reporter) and the
``test_outcomes`` projection (:mod:`projections.junit_outcomes`) folds them into
``test_outcomes``, ``flaky_tests`` and ``test_flakiness``. To classify a failure the runner
then waits (briefly) until the projection has applied its own report, so the tables include
every earlier attempt of the stage (a pipeline's reports share one ordered partition), and
asks :meth:`TestHistory.context`: which failed tests passed in an earlier attempt of the
stage, and which are known flaky (a flip recorded in ``flaky_tests``, or judged flaky by rate
in ``test_flakiness``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from orchestrator.domain.records import CaseOutcome, TestOutcomesReported
from runners.classify import JUnitResults
from schemas.errors import InfrastructureError
from schemas.pg import DatabaseUnavailable, connect

__all__ = [
    "AttemptRef",
    "TestHistory",
    "TestHistoryError",
    "outcome_reports",
]

PROJECTION = "test_outcomes"  # the projection folding sluice.tests (projections.junit_outcomes)
MAX_TESTS_PER_REPORT = 2000  # keeps a record far below Kafka's message size limit
_log = logging.getLogger("sluice.runner.history")


class TestHistoryError(InfrastructureError):
    """The test-history tables could not be read."""

    __test__ = False  # not a pytest test class, despite its name


@dataclass(frozen=True, slots=True)
class AttemptRef:
    """Which stage attempt of which run of which pipeline."""

    pipeline_id: str
    run_id: str
    stage: str
    attempt: int


def outcome_reports(
    ref: AttemptRef, commit_sha: str, results: JUnitResults, now_ms: int
) -> list[TestOutcomesReported]:
    """The records that report ``results`` (none for an empty report), in slices of at most
    :data:`MAX_TESTS_PER_REPORT` tests, in name order."""
    d = results.durations_ms
    cases = sorted(
        [
            *(CaseOutcome(name=t, passed=True, duration_ms=d.get(t)) for t in results.passed),
            *(CaseOutcome(name=t, passed=False, duration_ms=d.get(t)) for t in results.failed),
            *(CaseOutcome(name=t, passed=None, duration_ms=d.get(t)) for t in results.skipped),
        ],
        key=lambda c: c.name,
    )
    step = MAX_TESTS_PER_REPORT
    return [
        TestOutcomesReported(
            run_id=ref.run_id,
            pipeline_id=ref.pipeline_id,
            commit_sha=commit_sha,
            stage=ref.stage,
            attempt=ref.attempt,
            tests=tuple(cases[i : i + step]),
            occurred_at_ms=now_ms,
        )
        for i in range(0, len(cases), step)
    ]


class TestHistory:
    """Reads the test-history tables of ``schema`` (written by the projection only)."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, *, dsn: str, schema: str = "public", wait_s: float = 10.0) -> None:
        """Use the database at ``dsn``; wait at most ``wait_s`` for the projection."""
        self._dsn = dsn
        self._schema = schema
        self._wait_s = wait_s

    def context(
        self,
        ref: AttemptRef,
        failed: frozenset[str],
        *,
        after: tuple[str, int, int] | None = None,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Of ``failed``: those that passed in an earlier attempt, and those known flaky.

        ``after`` (topic, partition, offset of this attempt's own report) is waited for:
        once the projection applied it, every earlier report of the pipeline is applied too.
        """
        if not failed:
            return frozenset(), frozenset()
        names = sorted(failed)
        with self._connect() as conn:
            if after is not None:
                self._wait(conn, *after)
            before = conn.execute(
                "SELECT test_name FROM test_outcomes WHERE run_id = %s AND stage = %s"
                " AND attempt < %s AND passed AND test_name = ANY(%s)",
                (ref.run_id, ref.stage, ref.attempt, names),
            ).fetchall()
            known = conn.execute(
                "SELECT test_name FROM flaky_tests WHERE pipeline_id = %(p)s"
                " AND test_name = ANY(%(t)s) UNION SELECT test_name FROM test_flakiness"
                " WHERE pipeline_id = %(p)s AND flaky AND test_name = ANY(%(t)s)",
                {"p": ref.pipeline_id, "t": names},
            ).fetchall()
        return frozenset(r[0] for r in before), frozenset(r[0] for r in known)

    def _wait(self, conn: psycopg.Connection[Any], topic: str, partition: int, offset: int) -> None:
        """Until the projection applied ``offset``, or ``wait_s`` passed (then say so)."""
        deadline = time.monotonic() + self._wait_s
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT next_offset FROM projection_offsets"
                " WHERE projection = %s AND topic = %s AND partition = %s",
                (PROJECTION, topic, partition),
            ).fetchone()
            if row is not None and row[0] > offset:
                return
            time.sleep(0.05)
        _log.warning(
            "the test_outcomes projection has not applied %s[%d]@%d after %.0f s (is `sluice"
            " processor projection` running?): judging flakiness on the history it has",
            topic,
            partition,
            offset,
            self._wait_s,
        )

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with connect(
                self._dsn, schema=self._schema, name="sluice-test-history", autocommit=True
            ) as conn:
                yield conn
        except (psycopg.Error, DatabaseUnavailable) as e:
            raise TestHistoryError(f"the test history (PostgreSQL) failed: {e}") from e
