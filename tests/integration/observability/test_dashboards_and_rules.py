"""Metrics from real processes, and every PromQL expression of the Grafana dashboards and
the alert rules evaluated on the real Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from schemas.settings import ServiceSettings
from tests.integration.observability.exporting import Exporting, metric_value
from tests.support.leftovers import fresh_topic_prefix
from tests.support.services import unavailable
from tests.support.stack import create_topics, delete_topics
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "infra/grafana/dashboards").glob("*.json"))
RULES = sorted((ROOT / "infra/prometheus/rules").glob("*.yml"))
# what the decider, timers, lag exporter and notifier of this test export once a run went through
EXPORTED = {
    "up",
    "sluice_runs_total",
    "sluice_queue_seconds_bucket",
    "sluice_stage_duration_seconds_bucket",
    "sluice_stage_duration_seconds_count",
    "sluice_decider_jobs_total",
    "sluice_decider_ignored_total",
    "sluice_decider_malformed_total",
    "sluice_decider_decision_seconds_bucket",
    "sluice_processor_events_total",
    "sluice_projection_lag",
    "sluice_consumer_lag",
    "sluice_queue_depth",
    "sluice_dead_letter_queue_messages",
    "sluice_dead_letters_total",
    "sluice_notification_pending",
    "sluice_notification_deliveries_total",
}


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [t["expr"] for t in panel["targets"]]
    return exprs


def rule_exprs() -> list[str]:
    exprs = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [r["expr"] for r in group["rules"]]
    return exprs


def metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(sluice_[a-z0-9_]+|up)\b(?!\s*\()", expr))


def query(prometheus: str, expr: str) -> dict[str, Any]:
    r = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = r.json()
    return body


def series(prometheus: str, expr: str) -> list[Any]:
    """The series ``expr`` returns now (none yet: empty)."""
    result: list[Any] = query(prometheus, expr)["data"]["result"]
    return result


@pytest.fixture(scope="module")
def exporting(
    kafka_admin: AdminClient, settings: ServiceSettings, prometheus: str
) -> Iterator[Exporting]:
    """Decider, timers, lag exporter and notifier exporting metrics after one finished run."""
    e = Exporting(settings, fresh_topic_prefix("m"), prometheus)
    topics = create_topics(kafka_admin, e.prefix)
    try:
        e.start()
        assert e.run_to_the_end() == "RunSucceeded"
        yield e
    finally:
        e.close()
        delete_topics(kafka_admin, topics)


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool", FileNotFoundError("promtool (Debian's prometheus package)"))
    done = subprocess.run(
        [promtool, "check", "rules", *map(str, RULES)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_panel_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "infra/grafana/provisioning/datasources/sluice.yaml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == uid, f"{path.name}: {panel['title']}"


def test_every_dashboard_and_rule_expression_parses_on_prometheus(prometheus: str) -> None:
    for expr in dashboard_exprs() + rule_exprs():
        result = query(prometheus, expr)
        assert result["status"] == "success", f"{expr}: {result.get('error')}"


def test_metrics_move_as_a_run_progresses(exporting: Exporting) -> None:
    eventually(lambda: exporting.receiver.requests, timeout=30, what="the first run's webhook")
    before = exporting.metrics("decider")
    delivered = 'channel="webhook",outcome="delivered"'
    sent = metric_value(
        exporting.metrics("notifier"), "sluice_notification_deliveries_total", delivered
    )
    assert exporting.run_to_the_end() == "RunSucceeded"
    after = exporting.metrics("decider")
    for name, labels, grew_by in (
        ("sluice_runs_total", 'status="created"', 1),
        ("sluice_runs_total", 'status="succeeded"', 1),
        ("sluice_queue_seconds_count", 'priority="high"', 2),
        ("sluice_stage_duration_seconds_count", 'outcome="succeeded"', 2),
        ("sluice_decider_jobs_total", "", 2),
    ):
        grown = metric_value(after, name, labels) - metric_value(before, name, labels)
        assert grown == grew_by, f"{name}{{{labels}}} grew by {grown}"
    eventually(
        lambda: (
            metric_value(
                exporting.scrape("notifier"), "sluice_notification_deliveries_total", delivered
            )
            == sent + 1
        ),
        timeout=30,
        what="the notifier to count its webhook delivered",
    )


def test_the_key_panels_return_series_from_the_running_processes(
    exporting: Exporting, prometheus: str
) -> None:
    mine = f'up{{test="{exporting.test_id}"}}'
    try:
        eventually(lambda: len(query(prometheus, mine)["data"]["result"]) == 4, timeout=60)
    except AssertionError as e:
        raise AssertionError(f"{mine} never showed 4 series: {exporting.diagnosis()}") from e
    key = [e for e in dashboard_exprs() if metrics_in(e) <= EXPORTED]
    assert len(key) >= 15
    for expr in key:
        eventually(
            partial(series, prometheus, expr),
            timeout=60,
            what=f"series of {expr}",
        )
