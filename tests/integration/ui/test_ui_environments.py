"""The environments page in a real browser: what each environment runs and its deployments;
the Rollback button only with the trigger scope, and never without the session's CSRF value."""

from __future__ import annotations

import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.integration.api.conftest import Deployment
from tests.integration.api.test_environments_api import publish, two_deployments
from tests.integration.ui.conftest import cookie_client, shot, sign_in
from tests.support.waiting import eventually


def _published(deployment: Deployment) -> str:
    env = f"env-{uuid.uuid4().hex[:8]}"
    publish(deployment, two_deployments(env, second_good=False))
    with deployment.client() as http:
        eventually(
            lambda: http.get(f"/environments/{env}").status_code == 200,
            what="the environments projection to show the environment",
        )
    return env


def test_the_environments_page_shows_what_runs_and_every_deployment(
    deployment: Deployment, browser: WebDriver
) -> None:
    env = _published(deployment)

    sign_in(browser, deployment.url, deployment.token("read"), then="/ui/environments")
    section = browser.find_element(By.CSS_SELECTOR, f'section.environment[data-name="{env}"]')
    shot(browser, "environments")

    assert "app:v1" in section.find_element(By.TAG_NAME, "p").text
    outcomes = [
        r.text for r in section.find_elements(By.CSS_SELECTOR, "tr.deployment td:nth-child(5)")
    ]
    assert sorted(outcomes) == ["rolled_back", "succeeded"]


def test_the_rollback_button_needs_the_trigger_scope_and_the_csrf_value(
    deployment: Deployment, browser: WebDriver
) -> None:
    env = _published(deployment)
    section = f'section.environment[data-name="{env}"]'

    sign_in(browser, deployment.url, deployment.token("read"), then="/ui/environments")
    assert browser.find_elements(By.CSS_SELECTOR, f"{section} button.rollback-environment") == []
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(browser, deployment.url, deployment.token("read", "trigger"), then="/ui/environments")
    assert browser.find_elements(By.CSS_SELECTOR, f"{section} button.rollback-environment")
    with cookie_client(deployment, browser) as forged:
        assert forged.post(f"/ui/environments/{env}/rollback").status_code == 403
