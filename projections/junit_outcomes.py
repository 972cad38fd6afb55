"""The test history read model: the per-test outcomes of JUnit reports, from ``sluice.tests``.

Each :class:`TestOutcomesReported` (one stage attempt's report, or a slice of a big one)
becomes, in log order:

* a row of ``test_outcomes`` per test (pipeline, run, commit, stage, attempt, test, passed —
  NULL when skipped —, duration, when reported); a repeat of a row keeps the first;
* for each test that passed in one attempt of the stage and failed in another of the same
  run (so on the same commit), a row of ``flaky_tests`` (counting the flips);
* for each test that ran, its judgement by :func:`orchestrator.domain.flaky.judge` under the
  default rule (last 50 runs, failure rate within 5 % to 95 %, or a flip on one commit) in
  ``test_flakiness``, with the report that FIRST made it flaky (set once, never changed:
  the notifier's "became flaky" notice hangs on it).

``sluice.tests`` is keyed by pipeline, so all of a pipeline's reports are one ordered
partition and every judgement reads only rows folded before it: a replay gives the same
rows. Runners read these tables (:mod:`runners.history`) and never write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from orchestrator.domain.flaky import FlakyRule, Judgement
from orchestrator.domain.records import TestOutcomesReported
from projections.flaky_history import judge_tests
from projections.runner import Event, Projection
from schemas.pg import Conn
from schemas.topics import TESTS

__all__ = ["TEST_OUTCOMES", "write_test_outcomes"]

DEFAULT_RULE = FlakyRule()


def write_test_outcomes(conn: Conn, events: Sequence[Event]) -> None:
    """Fold each report of the batch, one after the other (each judgement sees the ones before)."""
    for event in events:
        if isinstance(event.record, TestOutcomesReported):
            _fold(conn, event.record)


def _fold(conn: Conn, report: TestOutcomesReported) -> None:
    at = datetime.fromtimestamp(report.occurred_at_ms / 1000, tz=UTC)
    new = _insert_outcomes(conn, report, at)
    if not new:
        return  # a repeated report changes nothing
    _record_flips(conn, report, new, at)
    ran = [_text(t.name) for t in report.tests if t.passed is not None and _text(t.name) in new]
    if ran:
        judged = judge_tests(conn, report.pipeline_id, DEFAULT_RULE, tests=sorted(set(ran)))
        _save_judgements(conn, report, judged, at)


def _insert_outcomes(conn: Conn, report: TestOutcomesReported, at: datetime) -> set[str]:
    """Insert the report's rows; the names of the tests whose row is new."""
    tests = report.tests
    rows = conn.execute(
        "INSERT INTO test_outcomes (pipeline_id, run_id, stage, attempt, test_name, passed,"
        " duration_ms, commit_sha, reported_at)"
        " SELECT %s, %s, %s, %s, t.name, t.passed, t.ms, %s, %s"
        " FROM unnest(%s::text[], %s::boolean[], %s::bigint[]) AS t(name, passed, ms)"
        " ON CONFLICT DO NOTHING RETURNING test_name",
        (
            report.pipeline_id,
            report.run_id,
            report.stage,
            report.attempt,
            report.commit_sha,
            at,
            [_text(t.name) for t in tests],
            [t.passed for t in tests],
            [t.duration_ms for t in tests],
        ),
    ).fetchall()
    return {r[0] for r in rows}


def _record_flips(conn: Conn, report: TestOutcomesReported, new: set[str], at: datetime) -> None:
    conn.execute(
        "INSERT INTO flaky_tests (pipeline_id, test_name, last_seen_at)"
        " SELECT DISTINCT %s, now.test_name, %s FROM test_outcomes now JOIN test_outcomes"
        " earlier USING (run_id, stage, test_name) WHERE now.run_id = %s AND now.stage = %s"
        " AND now.attempt = %s AND now.test_name = ANY(%s) AND earlier.attempt < now.attempt"
        " AND earlier.passed <> now.passed"
        " ON CONFLICT (pipeline_id, test_name) DO UPDATE"
        " SET flips = flaky_tests.flips + 1, last_seen_at = EXCLUDED.last_seen_at",
        (report.pipeline_id, at, report.run_id, report.stage, report.attempt, sorted(new)),
    )


def _save_judgements(
    conn: Conn, report: TestOutcomesReported, judged: dict[str, Judgement], at: datetime
) -> None:
    rows = [_judgement_row(report, name, j, at) for name, j in sorted(judged.items())]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO test_flakiness (pipeline_id, test_name, runs, failed_runs, flaky,"
            " flipped_on, updated_at, flaky_since, flaky_since_run_id, flaky_since_stage,"
            " flaky_since_attempt, flaky_since_commit, onset_runs, onset_failed_runs)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (pipeline_id, test_name) DO UPDATE SET runs = EXCLUDED.runs,"
            " failed_runs = EXCLUDED.failed_runs, flaky = EXCLUDED.flaky,"
            " flipped_on = EXCLUDED.flipped_on, updated_at = EXCLUDED.updated_at,"
            + ", ".join(f"{c} = coalesce(test_flakiness.{c}, EXCLUDED.{c})" for c in _ONSET),
            rows,
        )


_ONSET = (
    "flaky_since",
    "flaky_since_run_id",
    "flaky_since_stage",
    "flaky_since_attempt",
    "flaky_since_commit",
    "onset_runs",
    "onset_failed_runs",
)


def _judgement_row(
    report: TestOutcomesReported, name: str, j: Judgement, at: datetime
) -> tuple[object, ...]:
    now = (report.pipeline_id, name, j.runs, j.failed_runs, j.flaky, list(j.flipped_on), at)
    if not j.flaky:
        return (*now, *([None] * len(_ONSET)))
    onset = (at, report.run_id, report.stage, report.attempt, report.commit_sha)
    return (*now, *onset, j.runs, j.failed_runs)


def _text(value: str) -> str:
    """``value`` as PostgreSQL can store it (text holds no NUL)."""
    return value.replace("\x00", "\ufffd")


TEST_OUTCOMES = Projection(
    name="test_outcomes",
    topics=(TESTS.name,),
    handler=write_test_outcomes,
    tables=("test_outcomes", "flaky_tests", "test_flakiness"),
    records=frozenset({"TestOutcomesReported"}),
)
