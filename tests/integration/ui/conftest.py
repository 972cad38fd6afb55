"""The web UI in a real browser: Debian's chromium, headless, driven by Selenium through
Debian's chromium-driver (both installed by infra/up), against the API tests' deployment.

Screenshots of every page a test looks at are saved under ``test-artifacts/ui/`` (or
``$SLUICE_UI_SCREENSHOTS``), the folder CI keeps with the test run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.integration.api.conftest import Deployment, deployment, pipeline, trigger
from tests.support.waiting import eventually

__all__ = ["deployment", "pipeline", "trigger"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(
    os.environ.get("SLUICE_UI_SCREENSHOTS", Path(__file__).parents[3] / "test-artifacts" / "ui")
)
# what keeps chromium from reaching for the network (this machine has none) and hanging
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="package")
def chromium() -> Iterator[WebDriver]:
    """One headless chromium for the folder, with a fresh profile."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: infra/up installs chromium and chromium-driver")
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium: WebDriver) -> Iterator[WebDriver]:
    """The folder's chromium with no session (cookies cleared before each test)."""
    chromium.get("about:blank")
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield chromium
    with contextlib.suppress(WebDriverException):
        chromium.execute_script("window.stop()")


def sign_in(driver: WebDriver, url: str, token: str, then: str = "/ui/") -> None:
    """Sign in through the page, as a person does, and land on ``then``."""
    driver.get(f"{url}/ui/login?next={then}")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    eventually(lambda: "/ui/login" not in driver.current_url, timeout=15, what="sign-in")


def shot(driver: WebDriver, name: str) -> Path:
    """Save a screenshot of the page as ``name``.png in the screenshot folder."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def cookie_client(deployment: Deployment, driver: WebDriver) -> httpx.Client:
    """An HTTP client carrying the browser's session cookie (to forge requests with it)."""
    jar = {c["name"]: c["value"] for c in driver.get_cookies()}
    return httpx.Client(base_url=deployment.url, cookies=jar, timeout=30, follow_redirects=False)
