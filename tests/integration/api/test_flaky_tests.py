"""Flaky tests over history: runs triggered through the API, their JUnit outcomes appended to
``sluice.tests`` as a runner reports them (``runners.history.outcome_reports``) and folded by
the ``test_outcomes`` projection, judged by ``orchestrator.domain.flaky``:
``GET /pipelines/{id}/tests/flaky``, ``sluice tests flaky``, the runner's known-flaky set, and
a rebuild of the history from the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orchestrator.cli import main
from orchestrator.wire import encode_record
from projections.junit_outcomes import TEST_OUTCOMES
from projections.replay import verify
from projections.runner import wait_until
from runners.classify import JUnitResults
from runners.history import AttemptRef, TestHistory, outcome_reports
from schemas.eventlog import TopicNames, append_acknowledged, producer
from tests.integration.api.conftest import PIPELINE, Deployment, Pipeline

Trigger = Callable[..., httpx.Response]


@pytest.fixture
def history(deployment: Deployment, pipeline: Pipeline, trigger: Trigger) -> list[str]:
    """Four runs on four commits: t.sometimes fails in the first only, t.flip fails then
    passes on a retry of the last, t.broken always fails, t.fine always passes."""
    record = _reporter(deployment)
    shas = [pipeline.sha] + [
        pipeline.repo.commit({"pipeline.yaml": PIPELINE, "n.txt": str(i)}) for i in range(3)
    ]
    runs = []
    for i, sha in enumerate(shas):
        response = trigger(commit_sha=sha)
        assert response.status_code == 201, response.text
        run_id = response.json()["run_id"]
        runs.append(run_id)
        failed = (
            {"t.broken"}
            | ({"t.sometimes"} if i == 0 else set())
            | ({"t.flip"} if i == 3 else set())
        )
        passed = {"t.fine", "t.sometimes", "t.flip"} - failed
        ref = AttemptRef(pipeline.pipeline_id, run_id, "test", 1)
        record(ref, sha, JUnitResults(passed=frozenset(passed), failed=frozenset(failed)))
    retry = AttemptRef(pipeline.pipeline_id, runs[3], "test", 2)
    record(retry, shas[3], JUnitResults(passed=frozenset({"t.flip"})))
    return shas


Record = Callable[[AttemptRef, str, JUnitResults], None]


def _reporter(deployment: Deployment) -> Record:
    """Report outcomes as a runner does (acknowledged, on sluice.tests), each a second after
    the one before, and wait until the projection has folded them."""
    p = producer(deployment.settings)
    topic = TopicNames(deployment.settings.topic_prefix).tests
    clock = [1_790_000_000_000]

    def record(ref: AttemptRef, sha: str, results: JUnitResults) -> None:
        clock[0] += 1000
        for report in outcome_reports(ref, sha, results, clock[0]):
            part, offset = append_acknowledged(p, topic, ref.pipeline_id, encode_record(report))
        with deployment.connect() as conn:
            wait_until(conn, TEST_OUTCOMES.name, topic, part, offset, timeout=30)

    return record


def _flaky(deployment: Deployment, pipeline: Pipeline, **params: Any) -> dict[str, Any]:
    with deployment.client() as http:
        response = http.get(f"/pipelines/{pipeline.pipeline_id}/tests/flaky", params=params)
    response.raise_for_status()
    return {t["test_name"]: t for t in response.json()}


def test_a_rate_in_the_band_or_a_flip_on_one_commit_is_flaky(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    found = _flaky(deployment, pipeline)
    assert sorted(found) == ["t.flip", "t.sometimes"]
    assert (found["t.sometimes"]["failed_runs"], found["t.sometimes"]["runs"]) == (1, 4)
    assert found["t.flip"]["flipped_on"] == [history[3]]


def test_above_a_higher_low_threshold_only_the_flip_remains(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    assert list(_flaky(deployment, pipeline, low=0.5)) == ["t.flip"]


def test_the_runner_counts_a_test_flaky_by_rate_as_known_flaky(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    store = TestHistory(dsn=deployment.settings.pg_dsn, schema=deployment.schema)
    ref = AttemptRef(pipeline.pipeline_id, "a-later-run", "test", 1)
    _, known = store.context(ref, frozenset({"t.sometimes", "t.broken"}))
    assert known == {"t.sometimes"}


def test_sluice_tests_flaky_prints_each_flaky_test_with_its_rate(
    deployment: Deployment,
    pipeline: Pipeline,
    history: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["tests", "flaky", pipeline.pipeline_id, "--url", deployment.url, "--token"]
    assert main([*args, deployment.admin_token]) == 0
    out = capsys.readouterr().out
    assert "t.sometimes\t25% (1/4 runs)" in out
    assert f"t.flip\t25% (1/4 runs)\tflipped on {history[3][:12]}" in out


def test_the_run_page_marks_a_failed_test_that_is_flaky_with_its_rate(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    with httpx.Client(base_url=deployment.url, timeout=30) as http:
        signed = http.post("/ui/login", data={"token": deployment.admin_token, "next": "/ui/"})
        assert signed.status_code == 303, signed.text
        runs = http.get(f"/pipelines/{pipeline.pipeline_id}/runs", headers=_bearer(deployment))
        first = runs.json()["runs"][-1]["run_id"]  # the oldest: t.sometimes failed there
        html = http.get(f"/ui/pipelines/{pipeline.pipeline_id}/runs/{first}").text
    assert '<code>t.sometimes</code> <span class="badge flaky"' in html
    assert "flaky 25 %" in html
    assert "<code>t.broken</code>," in html  # failing always: no flaky mark


def test_the_test_history_rebuilt_from_sluice_tests_equals_the_live_one(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    report = verify(
        deployment.settings,
        projection=TEST_OUTCOMES,
        live_schema=deployment.schema,
        prefix=deployment.settings.topic_prefix,
    )
    assert report.identical, report
    rows = {t.table: t.live_rows for t in report.tables}
    assert rows["test_outcomes"] >= 17  # this test's 4 runs x 4 tests and one retry
    assert rows["flaky_tests"] >= 1 and rows["test_flakiness"] >= 4


def test_a_test_keeps_the_report_that_first_made_it_flaky(
    deployment: Deployment, pipeline: Pipeline, history: list[str]
) -> None:
    with deployment.connect() as conn:
        rows = conn.execute(
            "SELECT test_name, flaky, flaky_since_commit, onset_runs, onset_failed_runs"
            " FROM test_flakiness WHERE pipeline_id = %s ORDER BY test_name",
            (pipeline.pipeline_id,),
        ).fetchall()
    assert rows == [
        ("t.broken", False, None, None, None),
        ("t.fine", False, None, None, None),
        # passed thrice, then failed on the last commit: 1 of 4 runs (25 %)
        ("t.flip", True, history[3], 4, 1),
        # failed in the first run only: 1 of 2 runs (50 %) once the second passed
        ("t.sometimes", True, history[1], 2, 1),
    ]


def _bearer(deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployment.admin_token}"}
