"""Sign-in, sessions, scopes and per-pipeline access on the pages, as the API applies them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from orchestrator.api.tokens import revoke_token
from tests.integration.api.conftest import Deployment, Pipeline
from tests.integration.ui.conftest import cookie_client, shot, sign_in
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]


def _run_path(pipeline: Pipeline, trigger: Trigger) -> str:
    run = trigger().json()
    return f"/ui/pipelines/{pipeline.pipeline_id}/runs/{run['run_id']}"


def test_web_url_is_the_run_page(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    body = trigger().json()
    assert (
        body["web_url"]
        == f"{deployment.url}/ui/pipelines/{pipeline.pipeline_id}/runs/{body['run_id']}"
    )


def test_a_page_without_a_session_redirects_to_sign_in(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger
) -> None:
    path = _run_path(pipeline, trigger)
    with httpx.Client(base_url=deployment.url, follow_redirects=False) as http:
        answer = http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/login?next={path}"


def test_signing_in_sets_a_strict_httponly_cookie_and_returns_to_the_page(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    path = _run_path(pipeline, trigger)
    browser.get(f"{deployment.url}{path}")
    assert "/ui/login" in browser.current_url
    shot(browser, "sign-in")
    sign_in(browser, deployment.url, deployment.token("read"), then=path)
    assert browser.current_url == f"{deployment.url}{path}"
    cookie = next(c for c in browser.get_cookies() if c["name"] == "sluice_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""


def test_a_bad_token_is_refused_on_the_sign_in_page(
    deployment: Deployment, browser: WebDriver
) -> None:
    browser.get(f"{deployment.url}/ui/login")
    browser.find_element(By.ID, "token").send_keys("sl_nothing_nothing")
    browser.find_element(By.ID, "sign-in").click()
    error = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, ".error"), timeout=15)
    assert "unknown, revoked" in error[0].text
    assert not [c for c in browser.get_cookies() if c["name"] == "sluice_session"]


def test_revoking_the_token_ends_the_session(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    path = _run_path(pipeline, trigger)
    with deployment.connect() as conn:
        from orchestrator.api.tokens import create_token  # noqa: PLC0415

        made = create_token(conn, name="revoked-later", scopes=["read"])
    sign_in(browser, deployment.url, made.secret, then=path)
    with cookie_client(deployment, browser) as http:
        assert http.get(path).status_code == 200
        with deployment.connect() as conn:
            revoke_token(conn, made.token_id)
        # refused once PostgreSQL's change notice reaches the API (a few ms after the commit)
        eventually(lambda: http.get(path).status_code == 303, timeout=10, what="the session to end")


def test_a_pipeline_the_token_may_not_see_is_404_on_every_page(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    path = _run_path(pipeline, trigger)
    run_id = path.rsplit("/", 1)[1]
    sign_in(browser, deployment.url, deployment.token("admin", pipelines=("someone-else",)))
    with cookie_client(deployment, browser) as http:
        for page in (
            path,
            f"{path}/state",
            f"{path}/history",
            f"/ui/runs?pipeline={pipeline.pipeline_id}",
            f"/ui/runs/{run_id}/logs/lines?stage=build",
        ):
            assert http.get(page).status_code == 404, page
        assert pipeline.pipeline_id not in http.get("/ui/").text
        assert run_id not in http.get("/ui/runs").text


def test_without_the_trigger_scope_the_buttons_are_absent_and_a_forged_post_is_403(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    path = _run_path(pipeline, trigger)
    sign_in(browser, deployment.url, deployment.token("read"), then=path)
    assert not browser.find_elements(By.ID, "cancel-run")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.retry-stage")
    shot(browser, "run-read-only")
    with cookie_client(deployment, browser) as http:
        csrf = _csrf_of(http, deployment, path)
        assert http.post(f"{path}/cancel", data={"csrf": csrf}).status_code == 403


def test_a_post_without_the_sessions_csrf_value_is_403(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    path = _run_path(pipeline, trigger)
    sign_in(browser, deployment.url, deployment.token("trigger", "read"), then=path)
    with cookie_client(deployment, browser) as http:
        assert http.post(f"{path}/cancel", data={"csrf": "0" * 64}).status_code == 403
        assert http.post(f"{path}/cancel", data={}).status_code == 403
    with deployment.client() as api:
        assert api.get(path.removeprefix("/ui")).json()["status"] not in ("cancelled",)


def _csrf_of(http: httpx.Client, deployment: Deployment, path: str) -> str:
    """The CSRF value a signed-in page would carry (its session cookie's SHA-256)."""
    from orchestrator.ui.session import csrf_of  # noqa: PLC0415

    return csrf_of(http.cookies["sluice_session"])
