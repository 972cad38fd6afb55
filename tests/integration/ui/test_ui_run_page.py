"""The run page in a browser: the DAG of a big run, live stage statuses, and the buttons
doing what the API does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.integration.api.conftest import Deployment, Pipeline, register
from tests.integration.ui.conftest import shot, sign_in
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]
SHARDS = 198
BIG = f"""
name: big
stages:
  build:
    script: ["make build"]
  test:
    needs: [build]
    matrix: {{shard: [{", ".join(f'"{i}"' for i in range(SHARDS))}]}}
    script: ["make test"]
  report:
    needs: [build, test]
    script: ["make report"]
"""


def _open(
    deployment: Deployment, browser: WebDriver, pipeline_id: str, run_id: str, *scopes: str
) -> str:
    path = f"/ui/pipelines/{pipeline_id}/runs/{run_id}"
    sign_in(browser, deployment.url, deployment.token(*(scopes or ("admin",))), then=path)
    return path


def _stages(deployment: Deployment, run_id: str) -> dict[str, str]:
    with deployment.client() as http:
        return {s["name"]: s["status"] for s in http.get(f"/runs/{run_id}").json()["stages"]}


def _row_status(browser: WebDriver, stage: str) -> str:
    return str(
        browser.execute_script(
            "const r = [...document.querySelectorAll('tr.stage')]"
            ".find(r => r.dataset.stage === arguments[0]);"
            "return r ? r.dataset.status : null;",
            stage,
        )
    )


def test_a_200_stage_run_renders_one_node_per_group_and_only_the_reduced_edges(
    deployment: Deployment, browser: WebDriver, tmp_path: Path
) -> None:
    big = register(deployment, tmp_path, BIG)
    with deployment.client() as http:
        run_id = http.post(
            f"/pipelines/{big.pipeline_id}/runs", json={"branch": "main", "commit_sha": big.sha}
        ).json()["run_id"]
    eventually(
        lambda: len(_stages(deployment, run_id)) == 200, timeout=30, what="the run's 200 stages"
    )
    _open(deployment, browser, big.pipeline_id, run_id)
    nodes = browser.find_elements(By.CSS_SELECTOR, "#dag .node")
    assert sorted(n.get_attribute("data-node") or "" for n in nodes) == ["build", "report", "test"]
    edges = {
        (e.get_attribute("data-from"), e.get_attribute("data-to"))
        for e in browser.find_elements(By.CSS_SELECTOR, "#dag .edge")
    }
    assert edges == {("build", "test"), ("test", "report")}  # build → report is implied
    group = browser.find_element(By.CSS_SELECTOR, '#dag .node[data-node="test"]')
    assert "group" in (group.get_attribute("class") or "")
    assert str(SHARDS) in group.find_element(By.CSS_SELECTOR, ".sub").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.stage")) == 200
    shot(browser, "run-200-stages")


def test_hovering_a_stage_lights_its_ancestors_and_descendants_only(
    deployment: Deployment, browser: WebDriver, tmp_path: Path
) -> None:
    text = """
name: lit
stages:
  a: {script: ["x"]}
  b: {needs: [a], script: ["x"]}
  c: {needs: [b], script: ["x"]}
  other: {script: ["x"]}
"""
    lit = register(deployment, tmp_path, text)
    with deployment.client() as http:
        body = {"branch": "main", "commit_sha": lit.sha}
        run_id = http.post(f"/pipelines/{lit.pipeline_id}/runs", json=body).json()["run_id"]
    eventually(lambda: len(_stages(deployment, run_id)) == 4, timeout=30)
    _open(deployment, browser, lit.pipeline_id, run_id)
    middle = browser.find_element(By.CSS_SELECTOR, '#dag .node[data-node="b"]')
    ActionChains(browser).move_to_element(middle).perform()
    lit_nodes = eventually(
        lambda: browser.execute_script(
            "return document.getElementById('dag').classList.contains('hovering') &&"
            " [...document.querySelectorAll('#dag .node.lit')].map(n => n.dataset.node).sort()"
        ),
        timeout=10,
    )
    assert lit_nodes == ["a", "b", "c"]
    shot(browser, "run-hover")


def test_a_stage_status_changes_on_the_open_page_after_its_event(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    eventually(lambda: _stages(deployment, run_id).get("build") == "queued", timeout=30)
    _open(deployment, browser, pipeline.pipeline_id, run_id)
    assert _row_status(browser, "build") == "queued"
    with deployment.client() as http:
        assert http.post(f"/runs/{run_id}/cancel").status_code == 202
    eventually(
        lambda: _row_status(browser, "build") == "cancelled", timeout=30, what="the page to show it"
    )
    node = browser.find_element(By.CSS_SELECTOR, '#dag .node[data-node="build"]')
    assert "s-cancelled" in (node.get_attribute("class") or "")
    assert browser.find_element(By.ID, "run-status").text == "cancelled"


def test_cancel_and_retry_from_the_page_do_what_the_api_does(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    eventually(lambda: _stages(deployment, run_id).get("build") == "queued", timeout=30)
    _open(deployment, browser, pipeline.pipeline_id, run_id, "read", "trigger")
    browser.find_element(By.ID, "cancel-run").click()
    eventually(lambda: _stages(deployment, run_id).get("build") == "cancelled", timeout=30)
    eventually(lambda: _row_status(browser, "build") == "cancelled", timeout=30)
    shot(browser, "run-cancelled")
    retry = browser.find_element(By.CSS_SELECTOR, 'button.retry-stage[data-stage="build"]')
    assert retry.is_displayed()
    retry.click()
    eventually(
        lambda: _stages(deployment, run_id).get("build") in ("pending", "queued"), timeout=30
    )
    eventually(lambda: _row_status(browser, "build") in ("pending", "queued"), timeout=30)
    assert not browser.find_element(
        By.CSS_SELECTOR, 'button.retry-stage[data-stage="build"]'
    ).is_displayed()


def test_the_history_shows_the_lines_sluice_events_prints(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    eventually(lambda: _stages(deployment, run_id).get("build") == "queued", timeout=30)
    _open(deployment, browser, pipeline.pipeline_id, run_id)
    events = eventually(lambda: browser.find_elements(By.ID, "events"), timeout=30)
    text = events[0].text
    assert "RunCreated" in text and "StageQueued" in text
    waterfall = browser.find_elements(By.CSS_SELECTOR, '#waterfall tr[data-stage="build"]')
    assert len(waterfall) == 1
    shot(browser, "run-history")


MANUAL = """
name: manual
stages:
  build:
    script: ["make"]
  deploy:
    when: {manual: true}
    script: ["make deploy"]
"""


def test_play_starts_a_manual_stage_as_the_api_would(
    deployment: Deployment, browser: WebDriver, tmp_path: Path
) -> None:
    manual = register(deployment, tmp_path, MANUAL)
    with deployment.client() as http:
        body = {"branch": "main", "commit_sha": manual.sha}
        run_id = http.post(f"/pipelines/{manual.pipeline_id}/runs", json=body).json()["run_id"]
    eventually(lambda: _stages(deployment, run_id).get("deploy") == "manual", timeout=30)
    _open(deployment, browser, manual.pipeline_id, run_id, "read", "trigger")
    play = browser.find_element(By.CSS_SELECTOR, 'button.play-stage[data-stage="deploy"]')
    assert play.is_displayed()
    assert not browser.find_element(
        By.CSS_SELECTOR, 'button.play-stage[data-stage="build"]'
    ).is_displayed()
    play.click()
    eventually(lambda: _stages(deployment, run_id).get("deploy") == "queued", timeout=30)
    eventually(lambda: _row_status(browser, "deploy") == "queued", timeout=30)


def test_total_and_queue_time_grow_on_the_open_page_while_the_run_waits(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = trigger().json()["run_id"]
    eventually(lambda: _stages(deployment, run_id).get("build") == "queued", timeout=30)
    _open(deployment, browser, pipeline.pipeline_id, run_id)
    first = browser.find_element(By.ID, "run-total").text
    eventually(
        lambda: browser.find_element(By.ID, "run-total").text != first,
        timeout=10,
        what="the total time to move on the open page",
    )
    assert browser.find_element(By.ID, "run-queue").text != "—"
    with deployment.client() as http:
        assert http.post(f"/runs/{run_id}/cancel").status_code == 202
