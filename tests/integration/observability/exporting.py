"""Real Sluice processes exporting metrics for a test: the decider, timers and lag exporter
as ``sluice processor`` subprocesses on free ports, and a notifier (with a webhook
subscription) in this process on a port of its own, all scraped by the real Prometheus
through a targets file of their own; a stand-in runner takes the jobs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from orchestrator.domain import Priority, RunCreated, TriggerSource, parse_pipeline
from orchestrator.wire import encode_event
from projections.migrate import migrate
from projections.notifier import Notifier, NotifierSettings
from projections.notify_store import subscribe
from schemas.eventlog import TopicNames, producer
from schemas.metrics import serve_metrics
from schemas.settings import ServiceSettings
from tests.integration.observability.receivers import HttpReceiver
from tests.support.ports import free_ports
from tests.support.stack import RunLog
from tests.support.standin_runner import StandInRunner
from tests.support.waiting import eventually

__all__ = ["Exporting", "metric_value", "targets_dir"]

PROCESSORS = ("decider", "timers", "lag")
_CLI = "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))"
_PIPELINE = """
name: observed
stages:
  build: {image: debian-git:bookworm, script: [make]}
  test: {needs: [build], script: [make test]}
"""


def targets_dir(prometheus: str) -> Path:
    """The folder of Prometheus' file_sd targets (read from its running configuration)."""
    config = httpx.get(f"{prometheus}/api/v1/status/config", timeout=10).json()["data"]["yaml"]
    match = re.search(r"files:\s*\n\s*-\s*(\S+)/\*\.json", config)
    assert match, "Prometheus has no file_sd targets folder; start it with infra/up"
    return Path(match[1])


def metric_value(text: str, name: str, labels: str = "") -> float:
    """The value of sample ``name{labels}`` in a /metrics page (0 when absent)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


@dataclass
class Exporting:
    settings: ServiceSettings
    prefix: str
    prometheus: str
    test_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    targets: Path | None = None

    def __post_init__(self) -> None:
        self._logs = Path(tempfile.mkdtemp(prefix=f"sluice-exporting-{self.test_id}-"))
        self.names = TopicNames(self.prefix)
        self.runner = StandInRunner(self.settings, self.prefix)
        self.log = RunLog(self.settings, self.names)
        self._out = producer(self.settings)
        self.schema = f"t_{self.test_id}"
        # every port this test serves on, chosen together so that no two are the same
        self._free = free_ports(len(PROCESSORS) + 2)
        self.receiver = HttpReceiver(port=self._free.pop())
        self.notifier = Notifier(
            self.settings,
            prefix=self.prefix,
            schema=self.schema,
            config=NotifierSettings(idle_poll_s=0.05),
        )
        self._server: Any = None

    def start(self) -> None:
        for name in PROCESSORS:
            self.ports[name] = port = self._free.pop()
            argv = ["processor", name, "--prefix", self.prefix, "--metrics-port", str(port)]
            with self._log_of(name).open("wb") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", _CLI, *argv],
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        self._start_notifier()
        for work in (self.runner.run, self.log.run, self.notifier.run):
            threading.Thread(target=work, args=(self.stop,), daemon=True).start()
        self._register_targets()
        for name in self.ports:
            eventually(partial(self.scrape, name), timeout=60, what=f"{name}'s /metrics")
        eventually(self.notifier.ready.is_set, timeout=60, what="the notifier to own partitions")

    def _start_notifier(self) -> None:
        """A webhook subscription to a live receiver, and this process's /metrics served."""
        self.receiver.start()
        with psycopg.connect(self.settings.pg_dsn, autocommit=True) as conn:
            migrate(conn, schema=self.schema)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            subscribe(
                conn,
                pipeline_id="p-observed",
                channel="webhook",
                target=self.receiver.url,
                events=["run.succeeded"],
                signing_secret="s",
            )
        self.ports["notifier"] = self._free.pop()
        self._server = serve_metrics(self.ports["notifier"], addr="127.0.0.1")

    def _register_targets(self) -> None:
        folder = targets_dir(self.prometheus)
        self.targets = folder / f"test-{self.test_id}.json"
        addresses = [f"127.0.0.1:{p}" for p in self.ports.values()]
        entry = [{"targets": addresses, "labels": {"service": "sluice", "test": self.test_id}}]
        # Whole or not at all: Prometheus has been seen reading a targets file half written.
        written = folder / f".test-{self.test_id}.json.part"
        written.write_text(json.dumps(entry))
        written.replace(self.targets)

    def close(self) -> None:
        if self.targets is not None:
            self.targets.unlink(missing_ok=True)
        self.stop.set()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.receiver.stop()
        with psycopg.connect(self.settings.pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )
        shutil.rmtree(self._logs, ignore_errors=True)

    def scrape(self, processor: str) -> str:
        """The /metrics page of ``processor`` ('' while it is not up yet)."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.ports[processor]}/metrics", timeout=5)
        except httpx.HTTPError:
            return ""
        return r.text if r.status_code == 200 else ""

    def metrics(self, processor: str, timeout: float = 30) -> str:
        """The /metrics page of ``processor``, asked again for up to ``timeout``; an error
        that says why when it never answers (so a silence never reads as a 0)."""
        try:
            return eventually(partial(self.scrape, processor), timeout=timeout)
        except AssertionError as e:
            raise AssertionError(
                f"{processor}'s /metrics on port {self.ports[processor]} never answered:"
                f" {self.diagnosis()}"
            ) from e

    def diagnosis(self) -> str:
        """Whether each processor still runs, the end of its log, and what Prometheus shows
        of this test's targets."""
        lines = [f"targets file present: {self.targets is not None and self.targets.exists()}"]
        for name, proc in zip(PROCESSORS, self.procs, strict=True):
            tail = self._log_of(name).read_text(errors="replace")[-1500:]
            lines.append(f"--- {name} (exit code {proc.poll()}), its log's end:\n{tail}")
        try:
            active = httpx.get(f"{self.prometheus}/api/v1/targets", timeout=5).json()
            mine = [
                (t["scrapeUrl"], t["health"], t["lastError"])
                for t in active["data"]["activeTargets"]
                if t["labels"].get("test") == self.test_id
            ]
            lines.append(f"Prometheus' targets of this test: {mine}")
        except (httpx.HTTPError, ValueError, KeyError) as e:
            lines.append(f"Prometheus' targets unreadable: {e}")
        return "\n".join(lines)

    def _log_of(self, processor: str) -> Path:
        return self._logs / f"{processor}.log"

    def run_to_the_end(self) -> str:
        """Create a two-stage run as the trigger processor would; wait for its end."""
        run_id = uuid.uuid4().hex
        created = RunCreated(
            run_id=run_id,
            pipeline_id="p-observed",
            pipeline_name="observed",
            branch="main",
            commit_sha="0" * 40,
            repo_url="file:///nowhere",
            source=TriggerSource.API,
            priority=Priority.HIGH,
            variables={},
            dedup_key=f"p-observed|main|{run_id}",
            stages=parse_pipeline(_PIPELINE).stages,
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
        self._out.produce(self.names.inbox, key=run_id.encode(), value=encode_event(created))
        assert self._out.flush(10) == 0
        return self.log.terminal(run_id, timeout=60)
