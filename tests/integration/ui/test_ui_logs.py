"""The log view in a browser: live over SSE across an API restart (every line exactly
once), and a million-line archived log rendered in windows (the DOM never holds more than
2,000 lines) with search and ``#L`` anchors."""

from __future__ import annotations

import gzip
import io
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
from minio import Minio
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from orchestrator.api.publish import append
from orchestrator.domain import LogArchived
from orchestrator.domain.records import LogChunk
from orchestrator.domain.statuses import LogStream
from orchestrator.ui import create_web_app
from schemas.eventlog import TopicNames, producer
from tests.integration.api.conftest import Deployment, Pipeline, Served
from tests.integration.ui.conftest import shot, sign_in
from tests.support.ports import free_port
from tests.support.waiting import eventually

Trigger = Callable[..., httpx.Response]
MILLION = 1_000_000
MAX_DOM_LINES = 2000
# records the most line elements the log view ever held
COUNT_LINES = """
window.maxLines = 0;
const box = document.getElementById('log-lines');
const count = () => { window.maxLines = Math.max(window.maxLines, box.children.length); };
new MutationObserver(count).observe(box, {childList: true}); count();
"""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _queued(deployment: Deployment, trigger: Trigger) -> str:
    run_id: str = trigger().json()["run_id"]
    with deployment.client() as http:
        eventually(
            lambda: http.get(f"/runs/{run_id}").json()["stages"][0]["status"] == "queued",
            timeout=30,
        )
    return run_id


def _line(i: int) -> str:
    return f"\x1b[31mline {i} error\x1b[0m" if i % 1000 == 0 else f"line {i} of the big log"


def _archive(deployment: Deployment, minio: Minio, run_id: str, lines: int) -> None:
    text = "".join(f"{_line(i)}\n" for i in range(lines)).encode()
    packed = gzip.compress(text, compresslevel=1)
    key = f"{deployment.settings.topic_prefix}logs/{run_id}/build/1.log.gz"
    bucket = deployment.settings.log_bucket
    minio.put_object(bucket, key, io.BytesIO(packed), len(packed))
    note = LogArchived(
        run_id=run_id,
        occurred_at_ms=_now_ms(),
        stage="build",
        attempt=1,
        storage_path=f"{bucket}/{key}",
        size_bytes=len(packed),
        lines=lines,
    )
    append(
        producer(deployment.settings),
        TopicNames(deployment.settings.topic_prefix).inbox,
        run_id,
        note,
    )

    def archived() -> bool:
        with deployment.connect() as conn:
            row = conn.execute(
                "SELECT log_path FROM stages WHERE run_id = %s AND name = 'build'", (run_id,)
            ).fetchone()
        return bool(row and row[0])

    eventually(archived, timeout=30, what="the read model to record the archive")


def _dom_lines(browser: WebDriver) -> int:
    return int(browser.execute_script("return document.querySelectorAll('#log-lines .ln').length"))


def test_a_million_line_log_opens_at_an_anchor_scrolls_and_searches_in_windows(
    deployment: Deployment,
    pipeline: Pipeline,
    trigger: Trigger,
    browser: WebDriver,
    minio_client: Minio,
) -> None:
    run_id = _queued(deployment, trigger)
    _archive(deployment, minio_client, run_id, MILLION)
    path = f"/ui/pipelines/{pipeline.pipeline_id}/runs/{run_id}?stage=build#L500000"
    sign_in(browser, deployment.url, deployment.token("read"), then="/ui/")
    browser.get(f"{deployment.url}{path}")
    browser.execute_script(COUNT_LINES)

    def line(n: int, text: str, cls: str = "") -> bool:
        found = browser.execute_script(
            "const e = document.getElementById('L' + arguments[0]);"
            "return e ? [e.textContent, e.className] : null;",
            n,
        )
        return bool(found and text in found[0] and cls in found[1])

    eventually(lambda: line(500000, "line 499999 of the big log", "mark"), timeout=60)
    shot(browser, "log-million-L500000")

    browser.execute_script("const v = document.getElementById('log-view'); v.scrollTop = 0;")
    eventually(lambda: line(1, "line 0 error"), timeout=30)
    colour = browser.execute_script("return document.querySelector('#L1 span.a31').textContent")
    assert colour == "line 0 error"

    search = browser.find_element(By.ID, "log-search")
    search.send_keys("line 777777 of", Keys.ENTER)
    eventually(lambda: line(777778, "line 777777 of the big log", "hit"), timeout=30)
    assert browser.find_element(By.ID, "log-found").text.startswith("1 of 1")
    shot(browser, "log-million-search")
    assert _dom_lines(browser) <= MAX_DOM_LINES
    assert 0 < int(browser.execute_script("return window.maxLines")) <= MAX_DOM_LINES


class _Writer(threading.Thread):
    """Writes ``line N`` chunks to sluice.logs, ``rate`` per second, as a runner does."""

    def __init__(self, deployment: Deployment, run_id: str, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.deployment, self.run_id, self.count, self.rate = deployment, run_id, count, rate

    def run(self) -> None:
        p = producer(self.deployment.settings)
        topic = TopicNames(self.deployment.settings.topic_prefix).logs
        for seq in range(self.count):
            chunk = LogChunk(
                run_id=self.run_id,
                stage="build",
                attempt=1,
                seq=seq,
                stream=LogStream.STDOUT,
                data=f"line {seq}\n",
                final=False,
                occurred_at_ms=_now_ms(),
            )
            append(p, topic, f"{self.run_id}/build/1", chunk)
            time.sleep(1 / self.rate)


def _serve_on(deployment: Deployment, port: int) -> Served:
    api = replace(deployment.api_settings.with_address("127.0.0.1", port))
    served = Served(create_web_app(deployment.settings, api, loops=False), port)
    served.start()
    return served


def test_the_live_log_shows_every_line_exactly_once_across_an_api_restart(
    deployment: Deployment, pipeline: Pipeline, trigger: Trigger, browser: WebDriver
) -> None:
    run_id = _queued(deployment, trigger)
    port = free_port()
    served = _serve_on(deployment, port)
    url = served.url
    path = f"/ui/pipelines/{pipeline.pipeline_id}/runs/{run_id}?stage=build"
    sign_in(browser, url, deployment.token("read"), then="/ui/")
    browser.get(f"{url}{path}")
    eventually(lambda: browser.find_element(By.ID, "log-state").text == "live", timeout=30)
    writer = _Writer(deployment, run_id, count=60, rate=10)
    writer.start()
    eventually(lambda: _live_lines(browser), timeout=30, what="the first lines")
    served.stop()
    time.sleep(1.5)  # the page's stream is down; the writer goes on
    served = _serve_on(deployment, port)
    writer.join(60)
    try:
        with deployment.client() as http:
            text = http.get(f"/runs/{run_id}/logs", params={"stage": "build"}).text
        expected = text.removesuffix("\n").split("\n")
        assert len(expected) == 60
        eventually(lambda: len(_live_lines(browser)) >= 60, timeout=60, what="every line")
        time.sleep(1)  # nothing more may arrive: no line twice
        assert _live_lines(browser) == expected
        shot(browser, "log-live-after-restart")
    finally:
        with deployment.client() as http:
            http.post(f"/runs/{run_id}/cancel")
        served.stop()


def _live_lines(browser: WebDriver) -> list[str]:
    lines = browser.execute_script("return window.sluiceLog.live || []")
    return [str(x) for x in lines]
