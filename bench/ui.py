"""The web UI on the real services, beside floors measured in the same run.

Prints:
  * run page server time for runs of 20 / 200 / 500 stages (matrix + fan-in): p50/p99 of
    ``GET /ui/pipelines/{p}/runs/{r}`` (HTML: read model, DAG layout, template), beside the
    API's JSON of the same run ``GET /pipelines/{p}/runs/{r}`` (same rows, no layout/HTML);
  * event-to-visible latency p50/p99 in headless chromium: a stage event appended to
    ``sluice.runs`` → the projector → the open run page showing the stage's new status,
    beside the SSE log line latency (a ``LogChunk`` appended → its line read from the API's
    SSE stream, as ``bench/api.py`` measures it) as the floor.
Run: .venv/bin/python bench/ui.py [--requests 30] [--events 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from confluent_kafka.admin import AdminClient
from cryptography.fernet import Fernet
from psycopg import sql
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from bench.api import bench_sse  # the SSE floor, as it measures it
from bench.http_load import pct, row
from orchestrator.api import ApiSettings
from orchestrator.api.publish import append
from orchestrator.api.tokens import create_token
from orchestrator.domain import Priority, StageQueued
from orchestrator.ui import create_web_app
from orchestrator.ui.session import COOKIE, seal
from projections.decider import Decider
from projections.migrate import migrate
from projections.projector import Projector
from projections.timers import TimerWorker
from schemas.eventlog import TopicNames, producer
from schemas.settings import ServiceSettings
from tests.integration.api.conftest import Served
from tests.integration.ui.conftest import CHROMEDRIVER, CHROMIUM, FLAGS
from tests.support.ports import free_port
from tests.support.stack import create_topics, delete_topics
from tests.unit.triggers.gitrepos import GitRepo

MATRIX = 249  # under the matrix cap (256): 500 stages need two matrices


def pipeline_text(stages: int) -> str:
    """build → matrices (stages - 2 jobs in all) → report."""
    jobs, mats, names = stages - 2, [], []
    for i in range(0, jobs, MATRIX):
        n = min(MATRIX, jobs - i)
        name = f"test{i // MATRIX}"
        names.append(name)
        values = ", ".join(f'"{v}"' for v in range(n))
        mats.append(
            f"  {name}:\n    needs: [build]\n    matrix: {{shard: [{values}]}}\n"
            '    script: ["make test"]\n'
        )
    return (
        f'name: bench-{stages}\nstages:\n  build:\n    script: ["make"]\n{"".join(mats)}'
        f'  report:\n    needs: [build, {", ".join(names)}]\n    script: ["make report"]\n'
    )


class Bench:
    """One isolated deployment: topics, schema, processors in threads, the API in-process."""

    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.prefix, self.schema, self.tmp = f"benchui{tag}.", f"bench_ui_{tag}", tmp
        self.settings = replace(ServiceSettings.from_env(), topic_prefix=self.prefix)
        self.admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        self.stop = threading.Event()

    def __enter__(self) -> Bench:
        create_topics(self.admin, self.prefix)
        with psycopg.connect(self.settings.pg_dsn, autocommit=True) as conn:
            migrate(conn, schema=self.schema)
        import subprocess  # noqa: PLC0415

        env = {
            "SLUICE_TOPIC_PREFIX": self.prefix,
            "SLUICE_PG_SCHEMA": self.schema,
            "SLUICE_CACHE_DIR": str(self.tmp / "cache"),
            "SLUICE_STATE_DIR": str(self.tmp / "state"),
            "SLUICE_SECRETS_KEY": Fernet.generate_key().decode(),
            "SLUICE_API_RATE": "100000",
            "SLUICE_API_BURST": "100000",
        }
        import os  # noqa: PLC0415

        with (self.tmp / "triggers.log").open("wb") as out:
            self.triggers = subprocess.Popen(
                [sys.executable, "-m", "projections.triggers"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        decider = Decider(settings=self.settings, prefix=self.prefix, worker_id="bench-ui")
        for work in (
            decider.run,
            TimerWorker(settings=self.settings, prefix=self.prefix).run,
            Projector(self.settings, prefix=self.prefix, schema=self.schema).run,
        ):
            threading.Thread(target=work, args=(self.stop,), daemon=True).start()
        port = free_port()
        api = ApiSettings.from_env(env).with_address("127.0.0.1", port)
        self.app = create_web_app(self.settings, api, loops=False)
        self.served = Served(self.app, port)
        self.served.start()
        with psycopg.connect(
            self.settings.pg_dsn, autocommit=True, options=f"-c search_path={self.schema}"
        ) as c:
            self.token = create_token(c, name="bench", scopes=["admin"]).secret
        self.http = httpx.Client(
            base_url=self.served.url,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token}"},
            cookies={COOKIE: seal(self.app.state.ctx, self.token)},
        )
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()
        self.served.stop()
        self.stop.set()
        self.triggers.terminate()
        self.triggers.wait(30)
        made = [t for t in self.admin.list_topics(timeout=10).topics if t.startswith(self.prefix)]
        delete_topics(self.admin, made)
        with psycopg.connect(self.settings.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema)))

    def run_of(self, stages: int) -> tuple[str, str]:
        """A queued run of a new ``stages``-stage pipeline, once the read model has it all."""
        repo = GitRepo(self.tmp / f"repo-{stages}-{uuid.uuid4().hex[:6]}")
        sha = repo.commit({"pipeline.yaml": pipeline_text(stages)})
        pid = f"bench-{stages}-{uuid.uuid4().hex[:6]}"
        self.http.post("/pipelines", json={"pipeline_id": pid, "name": pid, "repo_url": repo.url})
        body = {"branch": "main", "commit_sha": sha}
        deadline = time.monotonic() + 120
        while True:
            made = self.http.post(f"/pipelines/{pid}/runs", json=body)
            if made.status_code in (200, 201):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"no run: {made.status_code} {made.text}")
            time.sleep(1)
        run_id = made.json()["run_id"]
        while len(self.http.get(f"/runs/{run_id}").json()["stages"]) < stages:
            time.sleep(0.2)
        return pid, run_id


def timed(http: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        answer = http.get(path)
        out.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code}")
    return out


def page_times(bench: Bench, requests: int) -> None:
    print("run page server time (one client, sequential GETs):")
    for stages in (20, 200, 500):
        pid, run_id = bench.run_of(stages)
        page = timed(bench.http, f"/ui/pipelines/{pid}/runs/{run_id}", requests)
        floor = timed(bench.http, f"/pipelines/{pid}/runs/{run_id}", requests)
        row(
            f"{stages:>3} stages: page p50 vs JSON",
            statistics.median(page),
            statistics.median(floor),
            "ms",
        )
        row(f"{stages:>3} stages: page p99 vs JSON", pct(page, 0.99), pct(floor, 0.99), "ms")


OBSERVE = """
window.seen = {};
for (const r of document.querySelectorAll('tr.stage')) {
  const was = r.dataset.status;
  const note = () => {
    if (r.dataset.status !== was && !(r.dataset.stage in window.seen)) {
      window.seen[r.dataset.stage] = Date.now();
    }
  };
  new MutationObserver(note).observe(r, {attributes: true, attributeFilter: ['data-status']});
}
"""


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='bench-ui-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def visible_latency(bench: Bench, events: int) -> list[float]:
    """Append StageQueued for pending stages one by one; ms until the page shows each."""
    pid, run_id = bench.run_of(events + 2)
    driver = browser()
    try:
        driver.get(f"{bench.served.url}/ui/login")
        driver.find_element(By.ID, "token").send_keys(bench.token)
        driver.find_element(By.ID, "sign-in").click()
        time.sleep(1)
        driver.get(f"{bench.served.url}/ui/pipelines/{pid}/runs/{run_id}?stage=build")
        driver.execute_script(OBSERVE)
        out = producer(bench.settings)
        topic = TopicNames(bench.prefix).runs
        names = [f"test0 [shard={i}]" for i in range(events)]
        sent = {}
        for name in names:
            sent[name] = time.time() * 1000
            note = StageQueued(
                run_id=run_id,
                occurred_at_ms=int(sent[name]),
                stage=name,
                attempt=1,
                priority=Priority.NORMAL,
                lease_ms=60_000,
            )
            append(out, topic, run_id, note)
            time.sleep(0.7)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = driver.execute_script("return window.seen")
            if len(seen) == len(names):
                break
            time.sleep(0.2)
        return [seen[n] - sent[n] for n in names if n in seen]
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--events", type=int, default=20)
    opts = parser.parse_args()
    with Bench(Path(tempfile.mkdtemp(prefix="sluice-bench-ui-"))) as bench:
        page_times(bench, opts.requests)
        shown = visible_latency(bench, opts.events)
        _, run_id = bench.run_of(3)
        sse = bench_sse(bench.served.url, bench.token, bench.settings, run_id, opts.events * 5)
        print(f"event → visible on the open run page ({len(shown)}/{opts.events} seen):")
        row("event→visible p50 vs SSE line", statistics.median(shown), statistics.median(sse), "ms")
        row("event→visible p99 vs SSE line", pct(shown, 0.99), pct(sse, 0.99), "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
