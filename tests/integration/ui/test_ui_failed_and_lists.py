"""A failed run shows why above the fold; the pipelines and runs pages list what the token
may see, filtered and in pages."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from orchestrator.domain import FailureClass, StageClaimed, StageFailed
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from orchestrator.wire import encode_event, encode_record
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, Pipeline
from tests.integration.ui.conftest import cookie_client, shot, sign_in
from tests.support.event_ids import AttemptIds
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


class _RunnerAttemptIds(AttemptIds):
    runner_id: str


def _fail_build(deployment: Deployment, run_id: str) -> None:
    """Report build as a runner does: a log with an error line, then claimed and failed."""
    names = TopicNames(deployment.settings.topic_prefix)
    out = producer(deployment.settings)
    now = time.time_ns() // 1_000_000
    text = (
        "compiling sluice\n\x1b[31merror: undefined symbol frobnicate\x1b[0m\nmake: *** [all] 2\n"
    )
    log = LogChunk(
        run_id=run_id,
        stage="build",
        attempt=1,
        seq=0,
        stream=LogStream.STDOUT,
        data=text,
        final=True,
        occurred_at_ms=now,
    )
    out.produce(names.logs, key=f"{run_id}/build/1".encode(), value=encode_record(log))
    base: _RunnerAttemptIds = {
        "run_id": run_id,
        "stage": "build",
        "attempt": 1,
        "runner_id": "ui-test",
    }
    claimed = StageClaimed(**base, lease_deadline_ms=now + 60_000, occurred_at_ms=now)
    failed = StageFailed(
        **base,
        exit_code=2,
        failure_class=FailureClass.DETERMINISTIC,
        reason="exit status 2",
        occurred_at_ms=now + 1,
    )
    for event in (claimed, failed):
        out.produce(names.inbox, key=run_id.encode(), value=encode_event(event))
    out.flush(10)


def test_a_failed_run_shows_the_failed_stage_its_reason_and_first_error_line(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["stages"][0]["status"] == "queued",
            timeout=30,
        )
        _fail_build(deployment, run_id)
        eventually(lambda: http.get(f"/runs/{run_id}").json()["status"] == "failed", timeout=30)
    path = f"/ui/pipelines/{pipeline.pipeline_id}/runs/{run_id}"
    sign_in(browser, deployment.url, deployment.token("read", "trigger"), then=path)
    failure = browser.find_element(By.ID, "failure")
    assert "build failed: exit status 2" in failure.text
    assert "L2 error: undefined symbol frobnicate" in failure.text
    assert failure.location["y"] < browser.get_window_size()["height"]  # above the fold
    assert browser.find_element(By.ID, "retry-failed").is_displayed()
    shot(browser, "run-failed")


def test_the_pipelines_page_shows_the_last_run_of_each_branch(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    first = trigger().json()["run_id"]
    sha = pipeline.repo.commit({"README": "two"})
    second = trigger(commit_sha=sha).json()["run_id"]
    sign_in(browser, deployment.url, deployment.token("read"))
    section = browser.find_element(By.ID, f"pipeline-{pipeline.pipeline_id}")
    assert second[:8] in section.text
    assert first[:8] not in section.text
    shot(browser, "pipelines")


def test_the_runs_page_filters_by_pipeline_and_status_and_pages(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    made = [trigger().json()["run_id"]]
    for i in range(2):
        made.append(trigger(commit_sha=pipeline.repo.commit({"N": str(i)})).json()["run_id"])
    sign_in(browser, deployment.url, deployment.token("read"))
    with cookie_client(deployment, browser) as http:
        page = http.get("/ui/runs", params={"pipeline": pipeline.pipeline_id}).text
        assert all(r[:8] in page for r in made)
        none = http.get("/ui/runs", params={"pipeline": pipeline.pipeline_id, "status": "success"})
        assert not any(r[:8] in none.text for r in made)
    browser.get(f"{deployment.url}/ui/runs?pipeline={pipeline.pipeline_id}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#run-table tbody tr")
    assert len(rows) == 3
    shot(browser, "runs")


def test_the_runs_page_pages_with_a_cursor(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    from orchestrator.ui.pages import PAGE  # noqa: PLC0415

    made = {
        trigger(commit_sha=pipeline.repo.commit({"N": str(i)})).json()["run_id"]
        for i in range(PAGE + 2)
    }
    sign_in(browser, deployment.url, deployment.token("read"))
    browser.get(f"{deployment.url}/ui/runs?pipeline={pipeline.pipeline_id}")
    first = {
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#run-table tbody td:first-child a")
    }
    browser.find_element(By.CSS_SELECTOR, "a.more").click()
    eventually(lambda: "cursor=" in browser.current_url, timeout=15)
    rest = {
        a.text for a in browser.find_elements(By.CSS_SELECTOR, "#run-table tbody td:first-child a")
    }
    assert len(first) == PAGE
    assert first | rest == {r[:8] for r in made}
    assert not first & rest


def test_the_runners_page_shows_what_each_runner_runs(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    with deployment.client() as http:
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["stages"][0]["status"] == "queued",
            timeout=30,
        )
        now = time.time_ns() // 1_000_000
        claimed = StageClaimed(
            run_id=run_id,
            stage="build",
            attempt=1,
            runner_id="runner-on-page",
            lease_deadline_ms=now + 600_000,
            occurred_at_ms=now,
        )
        out = producer(deployment.settings)
        inbox = TopicNames(deployment.settings.topic_prefix).inbox
        out.produce(inbox, key=run_id.encode(), value=encode_event(claimed))
        out.flush(10)
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["stages"][0]["status"] == "running",
            timeout=30,
        )
    sign_in(browser, deployment.url, deployment.token("read"), then="/ui/runners")
    eventually(lambda: "runner-on-page" in browser.find_element(By.ID, "runners").text, timeout=15)
    assert run_id[:8] in browser.find_element(By.ID, "runners").text
    shot(browser, "runners")
    with deployment.client() as http:
        http.post(f"/runs/{run_id}/cancel")


def test_a_stage_with_a_test_report_shows_its_results(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    rows = [("test_ok", True), ("test_also_ok", True), ("test_broken", False)]
    with deployment.connect() as conn:  # as the runner records a JUnit report
        for name, passed in rows:
            conn.execute(
                "INSERT INTO test_outcomes VALUES (%s, %s, 'build', 1, %s, %s)",
                (pipeline.pipeline_id, run_id, name, passed),
            )
    sign_in(browser, deployment.url, deployment.token("read"))
    browser.get(f"{deployment.url}/ui/pipelines/{pipeline.pipeline_id}/runs/{run_id}")
    table = eventually(lambda: browser.find_elements(By.ID, "tests"), timeout=30)[0]
    cells = [td.text for td in table.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert cells == ["build", "1", "2", "1", "test_broken"]
