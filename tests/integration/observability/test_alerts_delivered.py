"""An alert fires, reaches a receiver through Alertmanager, and is resolved, end to end.

The test runs its own Debian ``prometheus`` and ``prometheus-alertmanager`` (the binaries
``infra/up`` installs) on free ports, configured from the shipped templates
(infra/prometheus/prometheus.yml.in, infra/alertmanager/alertmanager.yml.in, rendered by
infra/services/alertmanager.sh itself), so it checks the routing Sluice ships without
touching the shared services. The rule is the test's own with a short ``for:``, evaluated
on a metric the test serves and switches.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.integration.observability.receivers import HttpReceiver
from tests.support.ports import free_port
from tests.support.services import require
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
RULE = """groups:
  - name: test
    rules:
      - alert: SluiceTestSwitchOn
        expr: sluice_test_alert_switch > 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "the test switched its alert on"
"""


def _ready(port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:
        assert answer.status == 200


def _alertmanager_config(webhook: str) -> str:
    """The shipped routing, rendered by the shipped script."""
    script = (
        f"source {ROOT}/infra/services/alertmanager.sh && "
        f"alertmanager_config {ROOT}/infra/alertmanager/alertmanager.yml.in"
    )
    env = {"PATH": os.environ["PATH"], "SLUICE_ALERT_WEBHOOK_URL": webhook}
    return subprocess.run(
        ["bash", "-c", script], env=env, check=True, capture_output=True, text=True
    ).stdout


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def switch() -> Gauge:
    """A gauge served on a free port (the metric the rule watches)."""
    registry = CollectorRegistry()
    gauge = Gauge("sluice_test_alert_switch", "on (1) or off (0)", registry=registry)
    gauge.set(0)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)
    gauge.port = port  # type: ignore[attr-defined]
    return gauge


@pytest.fixture
def alerting(tmp_path: Path, receiver: HttpReceiver, switch: Gauge) -> Iterator[None]:
    """Alertmanager routing to ``receiver``; Prometheus scraping ``switch`` and alerting."""
    require("prometheus-alertmanager", lambda: Path(ALERTMANAGER).stat())
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(_alertmanager_config(receiver.url))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "test.yml").write_text(RULE)
    (tmp_path / "targets").mkdir()
    target = [{"targets": [f"127.0.0.1:{switch.port}"]}]  # type: ignore[attr-defined]
    (tmp_path / "targets" / "test.json").write_text(json.dumps(target))
    template = (ROOT / "infra/prometheus/prometheus.yml.in").read_text()
    config = (
        template.replace("@TARGETS@", str(tmp_path / "targets"))
        .replace("@RULES@", str(tmp_path / "rules"))
        .replace("@ALERTMANAGER@", f"127.0.0.1:{am_port}")
        .replace("127.0.0.1:9090", f"127.0.0.1:{prom_port}")
    )
    (tmp_path / "prometheus.yml").write_text(config)
    am_args = [
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]
    prom_args = [
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    processes = [
        _start([ALERTMANAGER, *am_args], tmp_path / "alertmanager.log"),
        _start([PROMETHEUS, *prom_args], tmp_path / "prometheus.log"),
    ]
    try:
        for port in (am_port, prom_port):
            eventually(partial(_try, _ready, port), timeout=60, what=f"port {port} ready")
        yield
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def _try(probe: Any, *args: Any) -> bool:
    try:
        probe(*args)
    except OSError:
        return False
    return True


def _notifications(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in list(receiver.requests)]


def _delivered(receiver: HttpReceiver, status: str) -> dict[str, Any] | None:
    for note in _notifications(receiver):
        alerts = [a for a in note["alerts"] if a["labels"]["alertname"] == "SluiceTestSwitchOn"]
        if alerts and all(a["status"] == status for a in alerts):
            return note
    return None


@pytest.mark.usefixtures("alerting")
def test_a_firing_alert_is_delivered_to_the_webhook_and_then_resolved(
    receiver: HttpReceiver, switch: Gauge
) -> None:
    time.sleep(2)
    assert _delivered(receiver, "firing") is None  # nothing fires while the switch is off

    switch.set(1)
    fired = eventually(lambda: _delivered(receiver, "firing"), timeout=90, what="the alert")
    switch.set(0)
    resolved = eventually(lambda: _delivered(receiver, "resolved"), timeout=120, what="resolved")

    assert fired["receiver"] == "sluice" and fired["status"] == "firing"
    assert fired["commonLabels"]["severity"] == "page"
    assert fired["commonAnnotations"]["summary"] == "the test switched its alert on"
    assert resolved["status"] == "resolved"
    assert receiver.requests[0].path == "/hook"
