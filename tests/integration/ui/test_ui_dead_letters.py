"""The dead-letters page in a real browser: listed, buttons only with the trigger scope,
Redrive through the form (with the session's CSRF value) starts a fresh attempt."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.integration.api.conftest import Deployment, register
from tests.integration.ui.conftest import cookie_client, shot, sign_in
from tests.support.dead_letters import BROKEN_BUILD, OwnRunsOnly, dead_lettered_run, standin_for
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def standin(deployment: Deployment) -> Iterator[OwnRunsOnly]:
    with standin_for(deployment) as runner:
        yield runner


def test_the_dead_letters_page_redrives_with_the_trigger_scope_only(
    deployment: Deployment, standin: OwnRunsOnly, browser: WebDriver, tmp_path: Path
) -> None:
    pipeline = register(deployment, tmp_path, BROKEN_BUILD)
    fixed = threading.Event()
    run_id, letter = dead_lettered_run(deployment, standin, pipeline, fixed)
    row = f'tr[data-id="{letter["dead_letter_id"]}"]'
    path = f"/ui/dead-letters?pipeline={pipeline.pipeline_id}"

    sign_in(browser, deployment.url, deployment.token("read"), then=path)
    assert run_id[:8] in browser.find_element(By.CSS_SELECTOR, row).text
    assert browser.find_elements(By.CSS_SELECTOR, f"{row} button.redrive-letter") == []
    with cookie_client(deployment, browser) as forged:
        csrf_less = forged.post(f"/ui/dead-letters/{letter['dead_letter_id']}/redrive")
    assert csrf_less.status_code == 403

    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(browser, deployment.url, deployment.token("read", "trigger"), then=path)
    shot(browser, "dead-letters")
    fixed.set()
    browser.find_element(By.CSS_SELECTOR, f"{row} button.redrive-letter").click()
    with deployment.client() as http:
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["status"] == "success",
            timeout=60,
            what="the redriven run to succeed",
        )
        letter_url = f"/dead-letters/{letter['dead_letter_id']}"
        eventually(lambda: http.get(letter_url).json()["status"] == "redriven", what="redriven")
    browser.get(f"{deployment.url}{path}&status=redriven")
    assert "redriven" in browser.find_element(By.CSS_SELECTOR, row).text
